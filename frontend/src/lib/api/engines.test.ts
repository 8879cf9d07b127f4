import { describe, expect, it } from 'vitest';
import { summary, type EngineHealth } from './engines';

const base = {
  engine: { name: 'gpu', host: 'tcp://10.0.0.2:2376', local: false },
  ok: true,
  info: { version: '27.1.1', os: 'Debian', arch: 'x86_64', cpus: 8, memoryBytes: 16e9, hostname: 'gpu', containers: 0, images: 2 },
  latencyMs: 3.25,
  checkedAt: '',
} as unknown as EngineHealth;

describe('summary', () => {
  it('says what a healthy engine has', () => {
    expect(summary(base)).toBe('8 CPUs · 16 GB memory · Docker 27.1.1 · 3.3 ms');
  });
  it('gives the error in words for one that does not answer', () => {
    expect(summary({ ...base, ok: false, error: 'Engine "gpu" refused the connection.' })).toBe('Engine "gpu" refused the connection.');
  });
  it('says one CPU, not one CPUs', () => {
    expect(summary({ ...base, latencyMs: 0, info: { ...base.info, cpus: 1 } })).toBe('1 CPU · 16 GB memory · Docker 27.1.1');
  });
});
