// Backup state for the Settings screen: the running job (polled quickly
// while one runs, so the bar moves and Cancel answers), the last one and
// the schedule. Polled only while a view watches it.
import * as api from '../api/backups';

export const backups = $state<{ status: api.BackupStatus | null; error: string }>({ status: null, error: '' });

let watchers = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

async function poll() {
  clearTimeout(timer);
  try {
    backups.status = await api.status();
    backups.error = '';
  } catch (e) {
    backups.error = (e as Error).message;
  }
  if (watchers > 0) timer = setTimeout(poll, backups.status?.current ? 300 : 5000);
}

/** Keeps the state fresh while the caller (a mounted view) needs it; returns the stop. */
export function watchBackups(): () => void {
  watchers++;
  if (watchers === 1) void poll();
  return () => {
    watchers--;
    if (watchers === 0) clearTimeout(timer);
  };
}

/** Starts a backup or restore and follows it; throws the backend's worded error. */
export async function begin(action: () => Promise<unknown>): Promise<void> {
  await action();
  await poll();
}

export const refreshBackups = poll;
