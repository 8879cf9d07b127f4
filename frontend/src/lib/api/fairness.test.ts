import { describe, expect, it } from 'vitest';
import { disparityCell, groupName, progressText, rateCell } from './fairness';

describe('fairness cells', () => {
  it('says why a rate over nothing is 0 instead of showing a bare 0', () => {
    expect(rateCell({ value: 0, of: 0, low: 0, high: 1 }, 'positives')).toMatchObject({ text: '0 (no positives)', muted: true });
    const c = rateCell({ value: 0.123456, of: 40, low: 0.05, high: 0.26 }, 'positives');
    expect(c.text).toBe('0.1235');
    expect(c.title).toBe('95% interval 0.05–0.26, over 40 positives');
    expect(rateCell(undefined, 'rows').text).toBe('—');
  });
  it('places a disparity against its limit', () => {
    expect(disparityCell({ name: 'demographic_parity_ratio', label: 'x', kind: 'ratio', value: 0.62, limit: 0.8, pass: false })).toMatchObject({ text: '0.62', status: 'fail', title: 'Limit ≥ 0.8' });
    expect(disparityCell({ name: 'equalized_odds_difference', label: 'x', kind: 'difference', value: 0.05, limit: 0.1, pass: true }).status).toBe('pass');
    expect(disparityCell({ name: 'demographic_parity_ratio', label: 'x', kind: 'ratio' })).toMatchObject({ text: '—', status: 'none' });
  });
  it('names groups and progress in words', () => {
    expect(groupName({ values: ['F', '40-60'], count: 3 })).toBe('F × 40-60');
    expect(progressText({ jobId: 'j', phase: 'scoring', rows: 5000, total: 12000 })).toBe(`Scoring ${(5000).toLocaleString()} of ${(12000).toLocaleString()} rows…`);
    expect(progressText(null)).toBe('Starting…');
  });
});
