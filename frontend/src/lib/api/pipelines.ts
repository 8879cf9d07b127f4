// Pipelines: DAGs of typed steps, their triggers and runs (backend/pipeline).
import { call, on, type Loose, type Result } from './transport';

export type Pipeline = Result<'Pipelines.Get'>;
export type Step = Pipeline['steps'][number];
export type Trigger = Pipeline['triggers'][number];
export type TriggerKind = Trigger['kind'];
export type Summary = Result<'Pipelines.List'>[number];
export type Run = Result<'Pipelines.Runs'>[number];
export type RunDetail = Result<'Pipelines.Run'>;
export type StepRecord = RunDetail['steps'][number];
export type Value = StepRecord['inputs'][string];
export type Link = StepRecord['links'][number];
export type StepType = Result<'Pipelines.StepTypes'>[number];
export type Field = StepType['fields'][number];
export type Port = StepType['inputs'][number];
export type Problem = Result<'Pipelines.Check'>[number];
export type Notification = { pipelineId: string; pipeline: string; runId: string; run: number; step: string; message: string };

// Go sends an empty list as null; the forms and the graph read lists.
export const stepTypes = () =>
  call('Pipelines.StepTypes').then((x) => (x ?? []).map((t) => ({ ...t, fields: t.fields ?? [], inputs: t.inputs ?? [], outputs: t.outputs ?? [] })));
export const list = () => call('Pipelines.List').then((x) => x ?? []);
export const get = (id: string) => call('Pipelines.Get', id);
export const check = (p: Loose<Pipeline>) => call('Pipelines.Check', p).then((x) => x ?? []);
export const save = (p: Loose<Pipeline>) => call('Pipelines.Save', p);
export const remove = (id: string) => call('Pipelines.Delete', id);
export const exportYAML = (id: string) => call('Pipelines.ExportYAML', id);
export const importYAML = (text: string) => call('Pipelines.ImportYAML', text);
export const start = (id: string, noCache = false) => call('Pipelines.Start', id, { noCache });
export const runs = (id: string, limit = 100) => call('Pipelines.Runs', id, limit).then((x) => x ?? []);
export const run = (runId: string) => call('Pipelines.Run', runId);
export const cancel = (runId: string) => call('Pipelines.Cancel', runId);
export const retry = (runId: string, step: string) => call('Pipelines.Retry', runId, step);
export const approve = (runId: string, step: string, note: string) => call('Pipelines.Approve', runId, step, note);
export const reject = (runId: string, step: string, note: string) => call('Pipelines.Reject', runId, step, note);
export const retrainOnDrift = (deploymentId: string) => call('Pipelines.RetrainOnDrift', deploymentId);
export const nextFires = (cron: string, count = 3) => call('Pipelines.NextFires', cron, count).then((x) => (x ?? []) as string[]);

export const onRun = (cb: (r: Run) => void) => on('pipeline.run', cb);
export const onStep = (cb: (s: StepRecord) => void) => on('pipeline.step', cb);
export const onChanged = (cb: (d: { pipelineId: string }) => void) => on('pipeline.changed', cb);
export const onNotify = (cb: (n: Notification) => void) => on('pipeline.notify', cb);

/** States a run can end in; the others still move. */
export const finalRun = (s: string) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
/** A step that ended in this attempt. */
export const finalStep = (s: string) => ['succeeded', 'cached', 'failed', 'skipped', 'cancelled'].includes(s);

/** How a trigger reads in a list: "schedule 0 3 * * *", "new version of churn". */
export function describeTrigger(t: Trigger): string {
  switch (t.kind) {
    case 'manual':
      return 'by hand';
    case 'schedule':
      return `schedule ${t.cron ?? ''}`.trim();
    case 'dataset':
      return `new version of ${t.dataset || '?'}`;
    case 'alert':
      return t.monitor ? `alert on a monitor${t.rule ? ` (${t.rule})` : ''}` : 'any monitor alert';
    case 'folder':
      return `files in ${t.folder || '?'}${t.importOnly ? ' (import only)' : ''}`;
    case 'webhook':
      return 'webhook';
  }
  return t.kind;
}

/** An empty pipeline for "New pipeline". */
export const blank = (): Pipeline => ({ id: '', name: '', triggers: [{ kind: 'manual' }], steps: [], onActive: 'coalesce' }) as Pipeline;

/** The page of what a value or link names (dataset version, run, model version, deployment). */
export function target(kind: string, id: string, attrs: Record<string, string> = {}): { kind: string; id: string; model?: string; version?: string; datasetId?: string } | null {
  switch (kind) {
    case 'dataset_version':
      return { kind, id, datasetId: attrs.datasetId };
    case 'run':
      return { kind, id };
    case 'model_version': {
      const i = id.lastIndexOf(':');
      return { kind, id, model: attrs.model ?? id.slice(0, i), version: attrs.version ?? id.slice(i + 1) };
    }
    case 'deployment':
      return { kind, id };
  }
  return null;
}
