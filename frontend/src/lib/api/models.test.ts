import { describe, expect, it } from 'vitest';
import { lineageSteps, type Lineage } from './models';

const l: Lineage = {
  datasetVersion: '06h44bvcemqeg57qanms0nhq1m',
  runId: '06h44bvej5xyzxyzxyzxyzxyzx',
  experimentId: '0',
  model: 'churn-gbdt',
  version: 3,
  deployments: ['churn-api'],
};

describe('lineageSteps', () => {
  it('shows names and links to each page, never the raw IDs', () => {
    const steps = lineageSteps(l, {
      dataset: { label: 'churn v1', datasetId: 'ds1' },
      run: 'churn v1 · gbdt · 17:40',
      deployments: { 'churn-api': 'dep1' },
    });
    expect(steps).toEqual([
      { kind: 'dataset', label: 'churn v1', href: '#/datasets/ds1/06h44bvcemqeg57qanms0nhq1m' },
      { kind: 'run', label: 'churn v1 · gbdt · 17:40', href: '#/experiments/run/06h44bvej5xyzxyzxyzxyzxyzx' },
      { kind: 'model', label: 'churn-gbdt v3' },
      { kind: 'deployment', label: 'churn-api', href: '#/deployments/dep1' },
    ]);
  });
  it('uses neutral words, not IDs, until the names arrive', () => {
    const labels = lineageSteps(l).map((s) => s.label);
    expect(labels).toEqual(['dataset version', 'run', 'churn-gbdt v3', 'churn-api']);
  });
});
