// Prediction-log retention: keep N days or N GB per deployment (or for
// all), a dry run that says what a run deletes, the run with progress and
// cancel, and a schedule.
import { call, type Args, type Result } from './transport';

export type RetentionStatus = Result<'Retention.Status'>;
export type Policy = Args<'Retention.SetPolicy'>[0];
export type Limit = Policy['global'];
export type Estimate = Result<'Retention.Preview'>;
export type RetentionJob = NonNullable<RetentionStatus['running']>;

export const status = () => call('Retention.Status');
export const preview = (p: Policy) => call('Retention.Preview', p);
export const setPolicy = (p: Policy) => call('Retention.SetPolicy', p);
export const start = (opt: { deleteNeeded: boolean }) => call('Retention.Start', opt);
export const cancel = (id: string) => call('Retention.Cancel', id);

const GB = 1e9;

/** A limit from the form's fields: blank or 0 means no limit. */
export function limitFrom(days: string | number, gb: string | number): Limit {
  const d = Number(days) || 0;
  const g = Number(gb) || 0;
  return { keepDays: Math.max(0, Math.round(d)), keepBytes: Math.max(0, Math.round(g * GB)) };
}

/** "30 days and at most 2 GB", "everything". */
export function limitText(l: Limit): string {
  const parts: string[] = [];
  if (l.keepDays > 0) parts.push(`${l.keepDays} ${l.keepDays === 1 ? 'day' : 'days'}`);
  if (l.keepBytes > 0) parts.push(`${+(l.keepBytes / GB).toPrecision(4)} GB`);
  return parts.length ? parts.join(' and at most ') : 'everything';
}

/** Percent done of a run, 0–100. */
export function fraction(j: RetentionJob): number {
  if (j.phase === 'reclaiming') return 100;
  return j.total > 0 ? Math.min(100, (100 * j.done) / j.total) : 0;
}

/** Who still reads what the limits would take, over every deployment:
 * `monitor "fraud" (last 1000 requests) reads 204, labels (…) 3`. */
export function needsText(e: Estimate): string {
  const parts: string[] = [];
  for (const d of e.deployments) for (const n of d.needs) parts.push(`${n.what} ${n.records === 1 ? 'needs 1' : `needs ${n.records.toLocaleString('en-US')}`}`);
  return parts.join('; ');
}
