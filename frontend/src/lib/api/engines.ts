// Settings → Engines: the Docker engines jobs can run on (this machine's
// and remote ones over TCP with TLS), each with its health.
import { call, type Result } from './transport';
import { bytes } from '../format';

export type EngineHealth = Result<'Engines.List'>[number];
export type Engine = EngineHealth['engine'];

export const list = () => call('Engines.List');
export const test = (name: string) => call('Engines.Test', name);
export const add = (name: string, host: string, certDir: string) =>
  call('Engines.Add', { name, host, certDir, local: false });
export const remove = (name: string) => call('Engines.Remove', name);

/** "8 CPUs · 16 GB memory · Docker 27.1 · 3 ms", or the error in words. */
export function summary(h: EngineHealth): string {
  if (!h.ok) return h.error || 'Not tested yet.';
  const i = h.info;
  const parts = [`${i.cpus} CPU${i.cpus === 1 ? '' : 's'}`, `${bytes(i.memoryBytes)} memory`, `Docker ${i.version}`];
  if (h.latencyMs > 0) parts.push(`${h.latencyMs < 10 ? h.latencyMs.toFixed(1) : Math.round(h.latencyMs)} ms`);
  return parts.join(' · ');
}
