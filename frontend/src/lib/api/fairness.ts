// Fairness figures of a model version on a dataset version: per group
// rates, fairlearn's disparities and a worded verdict (backend/fairness).
import { call, on, type Args, type Result } from './transport';
import { num } from '../format';

export type Report = NonNullable<Result<'Fairness.Assess'>>;
export type Analysis = Report['analyses'][number];
export type Group = Analysis['groups'][number];
export type Figures = NonNullable<Group['figures']>;
export type Rate = NonNullable<Figures['selectionRate']>;
export type Disparity = Analysis['disparities'][number];
export type Request = Args<'Fairness.Assess'>[0];

/** "fairness.progress" events (not a method result, so written here). */
export interface Progress {
  jobId: string;
  phase: 'reading' | 'scoring' | 'done' | 'failed' | 'cancelled';
  rows: number;
  total: number;
  error?: string;
}

export const assess = (req: Request) => call('Fairness.Assess', req);
export const cancel = (jobId: string) => call('Fairness.Cancel', jobId);
export const onProgress = (cb: (p: Progress) => void) => on('fairness.progress', (d) => cb(d as Progress));

/** A group as a person reads it: "F", "F × 40-60". */
export const groupName = (g: Group) => g.values.join(' × ');

/** One cell of the group table: the rate, or why there is none. */
export interface Cell {
  text: string;
  /** The 95% interval and what the rate counts, for the tooltip. */
  title: string;
  muted?: boolean;
}

/**
 * A rate for the table. A rate over nothing (a group with no actual
 * positives has no true positive rate) is 0 by fairlearn's convention,
 * and the disparities use that 0; the cell says so instead of showing a
 * bare 0.
 */
export function rateCell(r: Rate | undefined, of: string): Cell {
  if (!r) return { text: '—', title: '' };
  if (r.of === 0) return { text: `0 (no ${of})`, title: `No ${of} in this group: fairlearn counts the rate as 0, and so do the disparities.`, muted: true };
  return { text: num(r.value), title: `95% interval ${num(r.low)}–${num(r.high)}, over ${r.of} ${of}` };
}

/** A disparity's value and its place against the limit. */
export function disparityCell(d: Disparity): Cell & { status: 'pass' | 'fail' | 'none' } {
  if (d.value === undefined || d.value === null) return { text: '—', title: 'Not defined: fewer than two groups to compare, or a ratio of 0 over 0.', status: 'none' };
  const limit = d.limit === undefined ? '' : `${d.kind === 'ratio' ? '≥' : '≤'} ${num(d.limit)}`;
  return { text: num(d.value), title: limit ? `Limit ${limit}` : 'Not held to a limit', status: d.pass === undefined ? 'none' : d.pass ? 'pass' : 'fail' };
}

/** What the progress line says while an assessment runs. */
export function progressText(p: Progress | null): string {
  if (!p) return 'Starting…';
  if (p.phase === 'reading') return `Reading ${p.total ? p.total.toLocaleString() + ' rows' : 'the dataset version'}…`;
  if (p.phase === 'scoring') return `Scoring ${p.rows.toLocaleString()} of ${p.total.toLocaleString()} rows…`;
  return '';
}
