import { describe, expect, it } from 'vitest';
import { buildPayload, exampleValues, stableBackend, weightOf } from './deployments';
import { lineageSteps, metricColumns } from './models';

const inputs = [
  { name: 'age', type: 'long' },
  { name: 'income', type: 'double' },
  { name: 'member', type: 'boolean' },
  { name: 'city', type: 'string' },
];

describe('buildPayload', () => {
  it('types values by the signature and leaves empty fields missing', () => {
    const r = buildPayload(inputs, { age: '41', income: '', member: 'true', city: 'Oslo' });
    expect(JSON.parse(r.body!)).toEqual({ dataframe_split: { columns: ['age', 'income', 'member', 'city'], data: [[41, null, true, 'Oslo']] } });
  });
  it('names the field that does not fit', () => {
    expect(buildPayload(inputs, { age: '4.5' }).error).toBe('age must be a whole number.');
    expect(buildPayload(inputs, { income: 'lots' }).error).toBe('income must be a number.');
    expect(buildPayload(inputs, { member: 'maybe' }).error).toBe('member must be true or false.');
  });
});

describe('exampleValues', () => {
  it('fills the form from a saved split example', () => {
    const v = exampleValues({ inputs }, { dataframe_split: { columns: ['income', 'age'], data: [[1.5, 30]] } });
    expect(v).toEqual({ age: '30', income: '1.5', member: '', city: '' });
  });
  it('is empty without an example', () => {
    expect(exampleValues({ inputs }, undefined).age).toBe('');
  });
});

describe('traffic helpers', () => {
  const t = { split: [{ backend: 'v1', weight: 90 }, { backend: 'v2', weight: 10 }] };
  it('finds the stable backend and weights', () => {
    expect(stableBackend(t)).toBe('v1');
    expect(weightOf(t, 'v2')).toBe(10);
    expect(weightOf(t, 'v9')).toBe(0);
  });
});

describe('models helpers', () => {
  it('draws lineage left to right', () => {
    const s = lineageSteps({ datasetVersion: 'dsv1', runId: 'run123456789', model: 'm', version: 2, deployments: ['prod'] });
    expect(s.map((x) => x.kind)).toEqual(['dataset', 'run', 'model', 'deployment']);
    expect(s[2].label).toBe('m v2');
  });
  it('collects metric columns', () => {
    const v = (metrics: Record<string, number>) => ({ model: 'm', version: 1, created: 0, source: '', dir: '', flavor: 'tern', signature: { inputs: [] }, metrics });
    expect(metricColumns([v({ b: 1 }), v({ a: 2, b: 3 })])).toEqual(['a', 'b']);
  });
});
