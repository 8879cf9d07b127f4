import { describe, expect, it } from 'vitest';
import { abbreviate, progress, validateSpace } from './sweeps';

describe('sweeps', () => {
  it('checks the search space in words', () => {
    expect(
      validateSpace([
        { name: 'a', kind: 'float', low: 2, high: 1 },
        { name: 'b', kind: 'float', low: 0, high: 1, log: true },
        { name: 'c', kind: 'int', low: 1.5, high: 3 },
        { name: 'd', kind: 'categorical', low: 0, high: 0, choices: [] },
        { name: 'e', kind: 'float', low: 0.01, high: 1, log: true },
      ]),
    ).toEqual({ a: 'Low is above high.', b: 'A log scale starts above 0.', c: 'Whole numbers.', d: 'Tick at least one choice.' });
  });
  it('counts ended trials', () => {
    const t = (state: string) => ({ state }) as never;
    expect(progress({ budget: 20, trials: [t('complete'), t('pruned'), t('running')] })).toMatchObject({ ended: 2, budget: 20 });
  });
  it('abbreviates long names', () => {
    expect(abbreviate('learning_rate', 8)).toBe('learnin…');
    expect(abbreviate('C', 8)).toBe('C');
  });
});
