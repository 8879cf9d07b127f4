import { describe, expect, it } from 'vitest';
import { outcome, metricLabel, type Metric } from './evaluate';

const m = (name: string, higherIsBetter: boolean, low: number, high: number, replicates = 1000): Metric => ({
  name,
  higherIsBetter,
  champion: 0.8,
  candidate: 0.85,
  difference: 0.05,
  interval: { low, high, replicates },
});

describe('outcome', () => {
  it('is better only when the whole interval lies on the good side of zero', () => {
    expect(outcome(m('roc_auc', true, 0.01, 0.09))).toBe('better');
    expect(outcome(m('roc_auc', true, -0.01, 0.09))).toBe('unclear');
    expect(outcome(m('roc_auc', true, -0.09, -0.01))).toBe('worse');
  });
  it('reads lower-is-better metrics the other way round', () => {
    expect(outcome(m('log_loss', false, -0.2, -0.05))).toBe('better');
    expect(outcome(m('rmse', false, 0.1, 0.3))).toBe('worse');
  });
  it('says unknown when no resample counted', () => {
    expect(outcome(m('roc_auc', true, 0, 0, 0))).toBe('unknown');
  });
  it('names metrics as people do', () => {
    expect(metricLabel('roc_auc')).toBe('AUC');
    expect(metricLabel('r2')).toBe('R²');
    expect(metricLabel('other')).toBe('other');
  });
});
