// Training: the Train form's schema, jobs, and their live progress.
import { call, on, type Args, type Loose, type Result } from './transport';

// Shapes generated from the Go types (bindings.gen.ts), named by method.
export type Job = Result<'Training.Job'>;
export type JobState = Job['state'];
export type Resources = Job['spec']['resources'];
export type TrainForm = Result<'Training.Form'>;
export type ModelSpec = TrainForm['models'][number];
export type ParamSpec = ModelSpec['params'][number];
export type DockerStatus = Result<'Training.Docker'>;
export type TrainRequest = Loose<Args<'Training.Start'>[0]>;

/** Splits a command line on spaces, keeping "quoted parts" whole. */
export function splitCommand(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
}
export interface MetricsEvent {
  jobId: string;
  runId: string;
  points: MetricPoint[];
}
export interface LogEvent {
  jobId: string;
  lines: string[];
}

export const form = (versionId: string) => call('Training.Form', versionId);
export const models = () => call('Training.Models');
export const start = (req: TrainRequest) => call('Training.Start', req);
export const rerun = (runId: string) => call('Training.Rerun', runId);
export const jobs = () => call('Training.Jobs');
export const job = (id: string) => call('Training.Job', id);
export const cancel = (id: string) => call('Training.Cancel', id);
export const logs = (id: string, tail = 200) => call('Training.Logs', id, tail);
export const docker = () => call('Training.Docker');

export const onJob = (cb: (j: Job) => void) => on('training.job', cb);
export const onMetrics = (cb: (m: MetricsEvent) => void) => on('training.metrics', cb);
export const onLog = (cb: (l: LogEvent) => void) => on('training.log', cb);

export const isFinal = (s: JobState) => s === 'succeeded' || s === 'failed' || s === 'cancelled' || s === 'crashed';

/** The form's starting values: every parameter at its default. */
export function defaults(spec: ModelSpec): Record<string, number | string> {
  return Object.fromEntries(spec.params.map((p) => [p.name, p.default as number | string]));
}

/**
 * Checks form values against the schema; returns a message per bad field
 * (empty when all is well). Values arrive as strings from inputs.
 */
export function validate(spec: ModelSpec, values: Record<string, unknown>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const p of spec.params) {
    const raw = values[p.name];
    if (p.type === 'choice') {
      if (!p.choices?.includes(String(raw))) errors[p.name] = `Choose one of ${p.choices?.join(', ')}.`;
      continue;
    }
    const n = typeof raw === 'number' ? raw : Number(String(raw ?? '').trim());
    if (String(raw ?? '').trim() === '' || !Number.isFinite(n)) {
      errors[p.name] = 'Enter a number.';
    } else if (p.type === 'integer' && !Number.isInteger(n)) {
      errors[p.name] = 'Enter a whole number.';
    } else if (p.min !== undefined && n < p.min) {
      errors[p.name] = `At least ${p.min}.`;
    } else if (p.max !== undefined && n > p.max) {
      errors[p.name] = `At most ${p.max}.`;
    }
  }
  return errors;
}

/** Converts validated form values to the numbers the backend expects. */
export function toParams(spec: ModelSpec, values: Record<string, unknown>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const p of spec.params) {
    out[p.name] = p.type === 'choice' ? String(values[p.name]) : Number(values[p.name]);
  }
  return out;
}

/** Series by metric key, one value per step (a repeated step replaces). */
export type Series = Record<string, { step: number; value: number }[]>;

export function addPoints(series: Series, points: MetricPoint[]): Series {
  const next: Series = { ...series };
  for (const p of points) {
    if (!Number.isFinite(p.value)) continue;
    const s = (next[p.key] = next[p.key] === series[p.key] ? [...(series[p.key] ?? [])] : next[p.key]);
    const last = s[s.length - 1];
    if (!last || p.step > last.step) s.push({ step: p.step, value: p.value });
    else {
      const i = s.findIndex((q) => q.step >= p.step);
      if (s[i].step === p.step) s[i] = { step: p.step, value: p.value };
      else s.splice(i, 0, { step: p.step, value: p.value });
    }
  }
  return next;
}

/** The words for a job's state, for badges. */
export function stateLabel(j: Pick<Job, 'state' | 'backend'>): string {
  switch (j.state) {
    case 'queued':
      return 'Queued';
    case 'running':
      return j.backend === 'local' ? 'Running locally' : 'Running in Docker';
    case 'succeeded':
      return 'Succeeded';
    case 'failed':
      return 'Failed';
    case 'cancelled':
      return 'Cancelled';
    case 'crashed':
      return 'Crashed';
  }
}

export type ColumnTask = TrainForm['tasks'][number];
export type TargetProposal = TrainForm['proposal'];

/**
 * Which rows the built-in models hold out for testing, and why, in words:
 * the split fraction and seed, stratified by class for a classifier, and a
 * warning when the rows carry dates (the split is random, never by time).
 */
export function holdoutText(o: { fraction: number; seed: number; rows: number; task: string; dateColumns: string[] }): string {
  const pct = Math.round(o.fraction * 1000) / 10;
  const n = Math.round(o.rows * o.fraction);
  let s = `${pct} % of the rows (about ${n.toLocaleString('en-US')}) are held out to test the model, picked at random with seed ${o.seed}`;
  s +=
    o.task === 'classification'
      ? ', stratified by class so each class keeps its share.'
      : o.task === 'regression'
        ? ' (not stratified: the target is a number).'
        : '.';
  if (o.dateColumns.length) {
    s += ` The split is not time-ordered: rows from any date of ${o.dateColumns.join(', ')} can land on either side.`;
  }
  return s;
}

/** The name an unnamed run gets (runner.TrainSpec builds the same): dataset, version, model, start time. */
export function defaultRunName(dataset: string, version: number, model: string, at: Date): string {
  const hh = String(at.getHours()).padStart(2, '0');
  const mm = String(at.getMinutes()).padStart(2, '0');
  return `${dataset} v${version} · ${model} · ${hh}:${mm}`;
}
