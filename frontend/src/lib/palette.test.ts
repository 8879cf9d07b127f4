import { describe, expect, it, vi } from 'vitest';
import { rank, type Command } from './palette';
import { parse } from './router.svelte';
import { bytes, shortPath } from './format';

const cmd = (label: string): Command => ({ id: label, label, run: vi.fn() });

describe('palette ranking', () => {
  const all = ['Go to Datasets', 'Go to Deployments', 'Deploy model', 'Go to Settings'].map(cmd);
  it('keeps everything for an empty query', () => expect(rank(all, '  ')).toHaveLength(4));
  it('needs every word, prefers a prefix match', () => {
    expect(rank(all, 'deploy').map((c) => c.label)).toEqual(['Deploy model', 'Go to Deployments']);
    expect(rank(all, 'go sett').map((c) => c.label)).toEqual(['Go to Settings']);
    expect(rank(all, 'nothing')).toEqual([]);
  });
});

describe('routes', () => {
  it('parses area and rest, defaulting to datasets', () => {
    expect(parse('#/experiments/abc/x%20y')).toEqual({ area: 'experiments', rest: ['abc', 'x y'] });
    expect(parse('')).toEqual({ area: 'datasets', rest: [] });
    expect(parse('#/nope/1')).toEqual({ area: 'datasets', rest: [] });
  });
});

describe('format', () => {
  it('writes sizes as people read them', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(269_000_000)).toBe('269 MB');
    expect(bytes(-1)).toBe('—');
  });
  it('keeps the end of long paths', () => {
    expect(shortPath('/home/ada/.config/tern', 12)).toBe('…config/tern');
    expect(shortPath('/a', 12)).toBe('/a');
  });
});
