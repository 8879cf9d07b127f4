import { describe, expect, it } from 'vitest';
import { align, bestIndex, isCurve, lowerIsBetter, smooth, type Curve } from './curves';

const pts = (...vs: [number, number, number?][]) => vs.map(([step, value, timestamp]) => ({ step, value, timestamp }));

describe('isCurve', () => {
  it('draws only series with more than one step', () => {
    expect(isCurve([])).toBe(false);
    expect(isCurve(pts([0, 0.9]))).toBe(false);
    // logged twice at one step (MLflow's default step 0) is still one step
    expect(isCurve(pts([0, 0.9], [0, 0.91]))).toBe(false);
    expect(isCurve(pts([0, 1], [1, 0.5]))).toBe(true);
  });
});

describe('smooth', () => {
  it('is the identity at weight 0', () => {
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });
  it('is a debiased EMA: the first value is kept, later ones lag', () => {
    const s = smooth([1, 3, 3], 0.5) as number[];
    expect(s[0]).toBe(1);
    // (0.5·(0.5·0+0.5·1)+0.5·3)/(1−0.25) = (0.25+1.5)/0.75
    expect(s[1]).toBeCloseTo(1.75 / 0.75, 12);
    expect(s[2]).toBeGreaterThan(s[1]);
    expect(s[2]).toBeLessThan(3);
  });
  it('lets NaN and null through without poisoning the rest', () => {
    const s = smooth([1, NaN, null, 1], 0.9);
    expect(s[1]).toBeNaN();
    expect(s[2]).toBeNull();
    expect(s[3]).toBeCloseTo(1, 12);
  });
  it('flattens noise', () => {
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : -1));
    const s = smooth(noisy, 0.9) as number[];
    expect(Math.abs(s[199])).toBeLessThan(0.1);
  });
});

describe('align (golden)', () => {
  const a: Curve = { name: 'a', points: pts([0, 1, 1000], [1, 0.5, 2000], [2, 0.25, 4000]) };
  const b: Curve = { name: 'b', points: pts([1, 2, 10_000], [3, 0.5, 13_000]) };

  it('shares one sorted step column with nulls where a curve has no point', () => {
    expect(align([a, b], { x: 'step', smoothing: 0, logY: false })).toEqual([
      [0, 1, 2, 3],
      [1, 0.5, 0.25, null],
      [null, 2, null, 0.5],
    ]);
  });
  it('maps wall time to epoch seconds', () => {
    expect(align([a], { x: 'wall', smoothing: 0, logY: false })).toEqual([
      [1, 2, 4],
      [1, 0.5, 0.25],
    ]);
  });
  it('maps relative time to seconds since each curve began', () => {
    expect(align([a, b], { x: 'relative', smoothing: 0, logY: false })).toEqual([
      [0, 1, 3],
      [1, 0.5, 0.25],
      [2, null, 0.5],
    ]);
  });
  it('keeps the last value of a re-logged step', () => {
    const c: Curve = { name: 'c', points: pts([0, 1], [1, 2], [1, 3]) };
    expect(align([c], { x: 'step', smoothing: 0, logY: false })).toEqual([
      [0, 1],
      [1, 3],
    ]);
  });
  it('drops values a log axis cannot show, and non-finite values', () => {
    const c: Curve = { name: 'c', points: pts([0, 0], [1, -1], [2, 0.1], [3, NaN], [4, Infinity]) };
    expect(align([c], { x: 'step', smoothing: 0, logY: true })).toEqual([
      [0, 1, 2, 3, 4],
      [null, null, 0.1, null, null],
    ]);
  });
  it('smooths each curve along its own points, across the other curve\'s gaps', () => {
    const [, ya] = align([a, b], { x: 'step', smoothing: 0.5, logY: false });
    expect(ya).toEqual([...(smooth([1, 0.5, 0.25], 0.5) as number[]), null]);
  });
  it('has no time axis for points without times (a live job)', () => {
    const live: Curve = { name: 'train_loss', points: [{ step: 1, value: 1 }, { step: 2, value: 0.5 }] };
    expect(align([live], { x: 'wall', smoothing: 0, logY: false })).toEqual([[], []]);
  });
});

describe('best value', () => {
  it('knows which way is better from the name', () => {
    expect(lowerIsBetter('val_loss')).toBe(true);
    expect(lowerIsBetter('test_rmse')).toBe(true);
    expect(lowerIsBetter('test_log_loss')).toBe(true);
    expect(lowerIsBetter('roc_auc')).toBe(false);
    expect(lowerIsBetter('accuracy')).toBe(false);
  });
  it('picks the highest accuracy and the lowest loss, and nothing when all are equal', () => {
    expect(bestIndex('accuracy', [0.8, 0.95, null, 0.9])).toBe(1);
    expect(bestIndex('loss', [0.8, 0.95, undefined, 0.2])).toBe(3);
    expect(bestIndex('loss', [0.5, 0.5])).toBe(-1);
    expect(bestIndex('loss', [0.5, null])).toBe(-1);
  });
});
