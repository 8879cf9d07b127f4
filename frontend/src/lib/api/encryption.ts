// Encryption at rest of the data folder: status, encrypting it (a copy
// written beside the data with progress and cancel, switched to at the
// next start), and key rotation.
import { call, type Result } from './transport';
import { bytes, count } from '../format';

export type EncryptionStatus = Result<'Encryption.Status'>;
export type EncryptionJob = NonNullable<EncryptionStatus['job']>;
export type KeyKind = 'passphrase' | 'keyring';

export const status = () => call('Encryption.Status');
export const encrypt = (kind: KeyKind, passphrase: string) => call('Encryption.Encrypt', { kind, passphrase });
export const cancel = () => call('Encryption.Cancel');
export const rotate = (current: string, kind: KeyKind, passphrase: string) =>
  call('Encryption.Rotate', { kind: '', passphrase: current }, { kind, passphrase });

const phases: Record<string, string> = {
  blobs: 'Encrypting stored files',
  files: 'Encrypting artifacts and models',
  ready: 'Encrypted copy ready',
};

/** "Encrypting stored files · 12 MB of 40 MB · 31 files". */
export function progressText(j: EncryptionJob): string {
  const p = j.progress;
  const parts = [phases[p.phase] ?? 'Starting'];
  if (p.total > 0) parts.push(`${bytes(Math.min(p.bytes, p.total))} of ${bytes(p.total)}`);
  if (p.files > 0) parts.push(`${count(p.files)} file${p.files === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

/** 0–100 for the bar. */
export function fraction(j: EncryptionJob): number {
  const p = j.progress;
  if (p.phase === 'ready') return 100;
  return p.total > 0 ? Math.min(100, (100 * p.bytes) / p.total) : 0;
}

/** How the key is kept, in words. */
export function keptBy(kind: string): string {
  return kind === 'keyring' ? "the system keyring" : 'a passphrase';
}
