import { describe, expect, it } from 'vitest';
import { fmtNum, numKey, verdictLabel, verdictValue, type Verdict } from './monitoring';

const base: Verdict = {
  column: 'x', kind: 'numeric', status: 'ok', test: 'ks', reason: '', statistic: 0.2, pValue: 0.01, distance: null,
  threshold: 0.05, significant: true, drift: true, refCount: 10, curCount: 10, refMissing: 0, curMissing: 0,
};

describe('monitoring helpers', () => {
  it('formats numbers like the report', () => {
    expect(fmtNum(0.123456)).toBe('0.1235');
    expect(fmtNum(null)).toBe('—');
    expect(fmtNum('+Inf')).toBe('∞');
    expect(fmtNum(1.5e-7)).toBe('1.5e-7');
    expect(fmtNum(0)).toBe('0');
  });
  it('sorts missing values last', () => {
    expect(numKey(null)).toBeGreaterThan(numKey('+Inf'));
    expect(numKey(-1)).toBeLessThan(numKey(0));
  });
  it('judges by p-value or distance', () => {
    expect(verdictValue(base)).toBe(0.01);
    expect(verdictValue({ ...base, test: 'wasserstein', distance: 0.3 })).toBe(0.3);
  });
  it('labels verdicts', () => {
    expect(verdictLabel(base)).toBe('drift');
    expect(verdictLabel({ ...base, drift: false, smallEffect: true })).toBe('significant but small');
    expect(verdictLabel({ ...base, drift: false })).toBe('no drift');
    expect(verdictLabel({ ...base, status: 'insufficient_data' })).toBe('insufficient data');
  });
});

describe('realised performance helpers', () => {
  it('lists the metrics a performance has, in display order', async () => {
    const { presentMetrics } = await import('./monitoring');
    const w = { from: '', to: '', n: 4, metrics: { roc_auc: 0.9, accuracy: 0.75, f1: 0.7 } };
    const p = { deployment: 'd', task: 'classification' as const, labels: 4, matched: 4, unmatched: 0, unusable: 0, window: 0, windows: [w], overall: w, updated: '' };
    expect(presentMetrics(p)).toEqual(['accuracy', 'f1', 'roc_auc']);
    expect(presentMetrics({ ...p, overall: { ...w, metrics: {} } })).toEqual([]);
  });
});
