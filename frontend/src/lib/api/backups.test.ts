import { describe, expect, it } from 'vitest';
import { fraction, outcome, progressText, remaining, type BackupJob } from './backups';

const job = (over: Partial<BackupJob> = {}): BackupJob => ({
  id: 'j1',
  kind: 'backup',
  trigger: 'manual',
  state: 'running',
  progress: { phase: 'blobs', done: 10e6, total: 40e6 },
  started: '2026-12-04T10:00:00Z',
  ended: '0001-01-01T00:00:00Z',
  target: '/b/tern-backup.tar',
  result: null,
  error: '',
  ...over,
});

describe('backup progress', () => {
  const t0 = Date.parse('2026-12-04T10:00:00Z');
  it('says the phase, the bytes and the time left at the rate so far', () => {
    expect(progressText(job(), t0 + 2000)).toBe('Copying stored files · 10 MB of 40 MB · about 6s left');
    expect(fraction(job())).toBe(25);
  });
  it('gives no estimate before there is a rate', () => {
    expect(remaining(job(), t0 + 500)).toBe('');
    expect(remaining(job({ progress: { phase: 'store', done: 0, total: 5 } }), t0 + 5000)).toBe('');
  });
  it('an estimate overrun by the stream is said as such', () => {
    expect(progressText(job({ progress: { phase: 'store', done: 50e6, total: 40e6 } }), t0 + 5000)).toBe('Copying the records · 40 MB of about 50 MB');
  });
});

describe('backup outcome', () => {
  const result = { path: '/b/x.tar', size: 2.5e6, created: '', readTs: 9, records: 12345, blobs: 2, blobBytes: 2e6, files: 1, fileBytes: 4000, seconds: 1.2 };
  it('says what a backup holds', () => {
    expect(outcome(job({ state: 'done', result }))).toBe('Backed up 12,345 records, 2 stored files (2.0 MB) and 1 other file (4.0 KB) to /b/x.tar (2.5 MB, 1s).');
  });
  it('says what a restore restored and how to use it', () => {
    const text = outcome(job({ kind: 'restore', state: 'done', result: { ...result, path: '/new', seconds: 0.2 } }));
    expect(text).toContain('Start Tern with --data-dir /new');
    expect(text).toContain('(under a second)');
  });
  it('a failure is its error', () => {
    expect(outcome(job({ state: 'failed', error: 'The disk is full.' }))).toBe('The disk is full.');
  });
});
