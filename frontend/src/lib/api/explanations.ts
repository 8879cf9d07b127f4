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
