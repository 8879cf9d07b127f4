import { describe, expect, it, vi } from 'vitest';
import { render, fireEvent, waitFor } from '@testing-library/svelte';

const calls: unknown[][] = [];
let running = true;
vi.mock('../../api/transport', () => ({
  call: vi.fn(async (name: string, ...args: unknown[]) => {
    calls.push([name, ...args]);
    if (name === 'Backups.Cancel') {
      running = false;
      return true;
    }
    const job = {
      id: 'job-7',
      kind: 'backup',
      trigger: 'manual',
      state: running ? 'running' : 'cancelled',
      progress: { phase: 'blobs', done: 30e6, total: 120e6 },
      started: new Date(Date.now() - 4000).toISOString(),
      ended: '',
      target: '/data/backups/tern-backup-20261204-101500.tar',
      result: null,
      error: running ? '' : 'The backup was cancelled; nothing was left behind.',
    };
    const schedule = { everyHours: 0, keep: 7, folder: '', lastRun: '0001-01-01T00:00:00Z', lastPath: '', lastError: '', lastTry: '' };
    return { current: running ? job : null, last: running ? null : job, schedule, defaultFolder: '/data/backups', nextRun: '' };
  }),
}));

import BackupsCard from './BackupsCard.svelte';

describe('BackupsCard', () => {
  it('shows a running backup with its bytes, an estimate and Cancel, then what cancelling did', async () => {
    const { getByRole, getByText, findByText } = render(BackupsCard);
    const bar = await waitFor(() => getByRole('progressbar'));
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(getByText(/Copying stored files · 30 MB of 120 MB · about \d+s left/)).toBeTruthy();
    await fireEvent.click(getByText('Cancel'));
    expect(calls).toContainEqual(['Backups.Cancel', 'job-7']);
    expect(await findByText('The backup was cancelled; nothing was left behind.')).toBeTruthy();
    expect(getByText('Back up now')).toBeTruthy();
  });
});
