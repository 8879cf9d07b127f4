import { describe, expect, it } from 'vitest';
import { fraction, keptBy, progressText, type EncryptionJob } from './encryption';

const job = (p: Partial<EncryptionJob['progress']>): EncryptionJob =>
  ({ id: 'j', state: 'running', kind: 'passphrase', started: '2026-12-05T08:00:00Z', progress: { phase: 'blobs', files: 0, bytes: 0, total: 0, ...p } }) as EncryptionJob;

describe('encryption progress', () => {
  it('says the phase, the bytes of the total and the files', () => {
    expect(progressText(job({ phase: 'blobs', bytes: 12_000_000, total: 40_000_000, files: 3 }))).toMatch(/^Encrypting stored files · 12(\.0)? MB of 40(\.0)? MB · 3 files$/);
    expect(progressText(job({ phase: 'files', files: 1 }))).toBe('Encrypting artifacts and models · 1 file');
    expect(progressText(job({ phase: '' }))).toBe('Starting');
  });
  it('fills the bar by bytes and ends full when ready', () => {
    expect(fraction(job({ bytes: 10, total: 40 }))).toBe(25);
    expect(fraction(job({ total: 0 }))).toBe(0);
    expect(fraction(job({ phase: 'ready', bytes: 0, total: 0 }))).toBe(100);
  });
  it('names where the key is kept', () => {
    expect(keptBy('keyring')).toBe('the system keyring');
    expect(keptBy('passphrase')).toBe('a passphrase');
  });
});
