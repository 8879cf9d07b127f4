// Deployments: stable local endpoints, traffic, live stats, Try-it.
import { call, on, type Result } from './transport';
import type { Column, Signature } from './models';

// Shapes generated from the Go types (bindings.gen.ts), named by method.
export type Deployment = Result<'Deployments.Get'>;
export type Instance = Deployment['backends'][number];
export type Traffic = Deployment['traffic'];
export type Split = Traffic['split'][number];
export type RouterStats = Result<'Deployments.Stats'>;
export type BackendStats = RouterStats['backends'][number];
export type PredictResult = Result<'Deployments.Predict'>;
export type LoggedPrediction = Result<'Deployments.Predictions'>[number];
/** Also the payload of "deployments.batch.progress" events. */
export type BatchProgress = Result<'Deployments.ScoreCSV'>;

export const list = () => call('Deployments.List');
export const get = (id: string) => call('Deployments.Get', id);
export const deploy = (model: string, ref: string, opts: { name?: string; port?: number } = {}) =>
  call('Deployments.Deploy', model, ref, { name: opts.name ?? '', port: opts.port ?? 0 });
export const addVersion = (id: string, ref: string) => call('Deployments.AddVersion', id, ref);
export const setCanary = (id: string, backend: string, weight: number) =>
  call('Deployments.SetCanary', id, backend, weight);
export const setTraffic = (id: string, t: Traffic) => call('Deployments.SetTraffic', id, t);
export const rollback = (id: string) => call('Deployments.Rollback', id);
export const stop = (id: string) => call('Deployments.Stop', id);
export const remove = (id: string) => call('Deployments.Delete', id);
export const stats = (id: string) => call('Deployments.Stats', id);
export const predictions = (id: string, limit = 20) => call('Deployments.Predictions', id, limit);
export const predict = (id: string, body: string, contentType = 'application/json') =>
  call('Deployments.Predict', id, contentType, body);
export const scoreCSV = (id: string, inPath: string, outPath = '') =>
  call('Deployments.ScoreCSV', id, inPath, outPath);
export const scoreCSVText = (id: string, text: string) => call('Deployments.ScoreCSVText', id, text);
export const exportImage = (model: string, version: number, dest: string) =>
  call('Deployments.ExportImage', model, version, dest);
export const exportBuildContext = (model: string, version: number, dest: string) =>
  call('Deployments.ExportBuildContext', model, version, dest);
export const onBatch = (cb: (p: BatchProgress) => void) => on('deployments.batch.progress', (d) => cb(d as BatchProgress));
export const onChanged = (cb: (d: Deployment) => void) => on('deployment.changed', (d) => cb(d as Deployment));

/** The backend with the most live traffic: the stable version. */
export function stableBackend(t: Traffic): string {
  let best = '';
  let w = -1;
  for (const s of t.split) if (s.weight > w) [best, w] = [s.backend, s.weight];
  return best;
}

/** The weight a backend has in the split (0 when absent). */
export const weightOf = (t: Traffic, backend: string) => t.split.find((s) => s.backend === backend)?.weight ?? 0;

/** A Try-it form's initial values: the saved input example if it is a
 *  record or a split frame, else an empty value per input. */
export function exampleValues(sig: Signature, example: unknown): Record<string, string> {
  const vals: Record<string, string> = Object.fromEntries(sig.inputs.map((c) => [c.name, '']));
  const ex = example as { dataframe_split?: { columns?: string[]; data?: unknown[][] }; columns?: string[]; data?: unknown[][] } | undefined;
  const split = ex?.dataframe_split ?? ex;
  if (split?.data?.length) {
    const cols = split.columns ?? sig.inputs.map((c) => c.name);
    cols.forEach((c, i) => {
      const v = split.data![0][i];
      if (c in vals && v !== null && v !== undefined) vals[c] = String(v);
    });
  }
  return vals;
}

/** Builds the MLflow dataframe_split body from a Try-it form, typed by the
 *  signature; an empty field is a missing value. Returns an error message
 *  naming the field when a value does not fit its column. */
export function buildPayload(inputs: Column[], values: Record<string, string>): { body?: string; error?: string } {
  const row: unknown[] = [];
  for (const c of inputs) {
    const raw = (values[c.name] ?? '').trim();
    if (raw === '') {
      row.push(null);
      continue;
    }
    if (c.type === 'string') {
      row.push(raw);
    } else if (c.type === 'boolean') {
      if (!['true', 'false', '1', '0'].includes(raw.toLowerCase())) return { error: `${c.name} must be true or false.` };
      row.push(raw.toLowerCase() === 'true' || raw === '1');
    } else {
      const n = Number(raw);
      if (!Number.isFinite(n)) return { error: `${c.name} must be a number.` };
      if ((c.type === 'long' || c.type === 'integer') && !Number.isInteger(n)) return { error: `${c.name} must be a whole number.` };
      row.push(n);
    }
  }
  return { body: JSON.stringify({ dataframe_split: { columns: inputs.map((c) => c.name), data: [row] } }) };
}

// Ramps: a candidate version's staged way to all traffic, judged per stage.
export type Ramp = Result<'Deployments.Ramps'>[number];
export type StageReport = Ramp['stages'][number];
export const ramps = (id: string) => call('Deployments.Ramps', id).then((x) => x ?? []);
export const abortRamp = (rampId: string) => call('Deployments.AbortRamp', rampId);
export const onRamp = (cb: (r: Ramp) => void) => on('deployment.ramp', (d) => cb(d as Ramp));
