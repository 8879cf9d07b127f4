// Global explanations of model versions (backend/explanation): mean |SHAP|
// per column, a beeswarm and dependence plots, computed once and stored.
import { call, on, type Args, type Result } from './transport';

export type Global = NonNullable<Result<'Explanations.Global'>>;
export type Column = Global['columns'][number];
export type Request = Args<'Explanations.Compute'>[0];

/** "explanation.progress" events (not a method result, so written here). */
export interface Progress {
  jobId: string;
  phase: 'reading' | 'explaining' | 'drawing' | 'done' | 'failed' | 'cancelled';
  rows: number;
  error?: string;
}

export const global = (model: string, version: number) => call('Explanations.Global', model, version);
export const compute = (req: Request) => call('Explanations.Compute', req);
export const cancel = (jobId: string) => call('Explanations.Cancel', jobId);
export const chart = (model: string, version: number, kind: 'bar' | 'beeswarm' | 'dependence', column = '') =>
  call('Explanations.Chart', model, version, kind, column);
export const ofRun = (runId: string) => call('Explanations.OfRun', runId);
export const onProgress = (cb: (p: Progress) => void) => on('explanation.progress', (d) => cb(d as Progress));

/** An SVG from the backend as an image source: data values never run as code. */
export const svgSrc = (svg: string) => 'data:image/svg+xml;base64,' + btoa(unescape(encodeURIComponent(svg)));

/** What the progress line says. */
export function progressText(p: Progress | null): string {
  if (!p) return 'Starting…';
  if (p.phase === 'reading') return `Reading ${p.rows ? p.rows.toLocaleString() + ' rows' : 'the dataset version'}…`;
  if (p.phase === 'explaining') return `Explaining ${p.rows.toLocaleString()} rows…`;
  if (p.phase === 'drawing') return 'Drawing the charts…';
  return '';
}

/** Where the explained rows came from, in words. */
export function sourceText(g: Global): string {
  const rows = `${g.rows.toLocaleString()} ${g.validation ? 'validation rows' : 'rows'}`;
  return `${g.method} on ${rows} of ${g.dataset}; explains ${g.output} (${g.link})`;
}

export type Local = Result<'Explanations.Local'>;
export type Logged = Result<'Explanations.Logged'>;
/** Row `row` (0-based) of a prediction the deployment logged, explained by the version that answered. */
export const logged = (deployment: string, requestId: string, row = 0) => call('Explanations.Logged', deployment, requestId, row);
export const local = (model: string, version: number, record: Record<string, unknown>) => call('Explanations.Local', model, version, record);

/** One bar of a waterfall: it runs from start to end on the margin's axis. */
export interface WaterfallRow {
  label: string;
  shap: number;
  start: number;
  end: number;
  kind: 'base' | 'up' | 'down' | 'total';
}

/**
 * The rows of a prediction's waterfall, top to bottom: the model's average
 * (base), the `top` largest contributions one after the other, the rest
 * summed into one row, and the prediction's margin. Each bar starts where
 * the one above ended, so the last ends at base + every contribution.
 */
export function waterfall(l: Local, top = 8): { rows: WaterfallRow[]; min: number; max: number } {
  const rows: WaterfallRow[] = [{ label: 'Model average', shap: l.base, start: l.base, end: l.base, kind: 'base' }];
  let at = l.base;
  const push = (label: string, shap: number) => {
    rows.push({ label, shap, start: at, end: at + shap, kind: shap >= 0 ? 'up' : 'down' });
    at += shap;
  };
  const shown = l.contributions.slice(0, top);
  for (const c of shown) push(c.value === '' ? `${c.name} (missing)` : `${c.name} = ${c.value}`, c.shap);
  const rest = l.contributions.slice(top);
  if (rest.length) push(`${rest.length} other column${rest.length === 1 ? '' : 's'}`, rest.reduce((s, c) => s + c.shap, 0));
  rows.push({ label: 'This prediction', shap: at, start: at, end: at, kind: 'total' });
  const ends = rows.flatMap((r) => [r.start, r.end]);
  return { rows, min: Math.min(...ends), max: Math.max(...ends) };
}

/** A request body's first row as column → value, for Explanations.Local. */
export function firstRecord(body: string): Record<string, unknown> {
  const split = (JSON.parse(body) as { dataframe_split?: { columns: string[]; data: unknown[][] } }).dataframe_split;
  const rec: Record<string, unknown> = {};
  split?.columns.forEach((c, i) => (rec[c] = split.data[0]?.[i] ?? null));
  return rec;
}
