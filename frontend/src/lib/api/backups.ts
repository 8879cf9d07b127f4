// Backups of the whole data dir: one click or a schedule, with progress and
// cancel, and restoring a backup file into a new data folder.
import { call, type Result } from './transport';
import { bytes, count, duration } from '../format';

export type BackupStatus = Result<'Backups.Status'>;
export type BackupJob = NonNullable<BackupStatus['current']>;
export type Schedule = BackupStatus['schedule'];
export type Summary = NonNullable<BackupJob['result']>;

export const status = () => call('Backups.Status');
export const start = (folder = '') => call('Backups.Start', folder);
export const cancel = (id: string) => call('Backups.Cancel', id);
export const setSchedule = (s: Schedule) => call('Backups.SetSchedule', s);
export const restore = (file: string, dir: string) => call('Backups.Restore', file, dir);

const phases: Record<string, string> = {
  store: 'Copying the records',
  blobs: 'Copying stored files',
  files: 'Copying artifacts and models',
  restoring: 'Reading and checking the backup',
  checking: 'Checking the restored store',
};

/** "Copying stored files · 12 MB of 40 MB · about 6s left". */
export function progressText(j: BackupJob, now = Date.now()): string {
  const p = j.progress;
  const parts = [phases[p.phase] ?? 'Starting'];
  if (p.total > 0) parts.push(`${bytes(Math.min(p.done, p.total))} of ${p.total >= p.done ? '' : 'about '}${bytes(Math.max(p.total, p.done))}`);
  const left = remaining(j, now);
  if (left) parts.push(`about ${left} left`);
  return parts.join(' · ');
}

/** Time left at the rate so far; '' until there is a rate to go by. */
export function remaining(j: BackupJob, now = Date.now()): string {
  const p = j.progress;
  const spent = now - Date.parse(j.started);
  if (!(p.total > 0) || p.done <= 0 || p.done >= p.total || spent < 1000) return '';
  return duration(((p.total - p.done) / p.done) * spent) || '';
}

/** 0–100 for the bar. */
export function fraction(j: BackupJob): number {
  const p = j.progress;
  return p.total > 0 ? Math.min(100, (100 * p.done) / p.total) : 0;
}

const n = (k: number, what: string) => `${count(k)} ${what}${k === 1 ? '' : 's'}`;

/** What a finished job did, in one sentence. */
export function outcome(j: BackupJob): string {
  if (j.state === 'cancelled' || j.state === 'failed') return j.error;
  const r = j.result;
  if (!r) return '';
  const what = `${n(r.records, 'record')}, ${n(r.blobs, 'stored file')} (${bytes(r.blobBytes)}) and ${n(r.files, 'other file')} (${bytes(r.fileBytes)})`;
  const took = r.seconds < 1 ? 'under a second' : duration(r.seconds * 1000);
  if (j.kind === 'restore') return `Restored ${what} into ${r.path}, every stored file checked against its hash (${took}). Start Tern with --data-dir ${r.path} to use it.`;
  return `Backed up ${what} to ${r.path} (${bytes(r.size)}, ${took}).`;
}
