import { describe, expect, it } from 'vitest';
import { addPoints, defaultRunName, defaults, holdoutText, splitCommand, stateLabel, toParams, validate, type ModelSpec } from './training';

const gbdt: ModelSpec = {
  name: 'gbdt',
  label: 'Gradient-boosted trees',
  tasks: ['classification', 'regression'],
  params: [
    { name: 'learning_rate', label: 'Learning rate', type: 'number', default: 0.1, min: 0.001, max: 1, help: '' },
    { name: 'max_iter', label: 'Rounds', type: 'integer', default: 100, min: 1, max: 10000, help: '' },
    { name: 'early_stopping', label: 'Early stopping', type: 'choice', default: 'auto', choices: ['auto', 'on', 'off'], help: '' },
  ],
};

describe('parameter form', () => {
  it('starts at the defaults, which validate', () => {
    const v = defaults(gbdt);
    expect(v).toEqual({ learning_rate: 0.1, max_iter: 100, early_stopping: 'auto' });
    expect(validate(gbdt, v)).toEqual({});
  });
  it.each([
    [{ learning_rate: '', max_iter: '100', early_stopping: 'auto' }, 'learning_rate', 'Enter a number.'],
    [{ learning_rate: 'abc', max_iter: '100', early_stopping: 'auto' }, 'learning_rate', 'Enter a number.'],
    [{ learning_rate: '2', max_iter: '100', early_stopping: 'auto' }, 'learning_rate', 'At most 1.'],
    [{ learning_rate: '0.1', max_iter: '2.5', early_stopping: 'auto' }, 'max_iter', 'Enter a whole number.'],
    [{ learning_rate: '0.1', max_iter: '0', early_stopping: 'auto' }, 'max_iter', 'At least 1.'],
    [{ learning_rate: '0.1', max_iter: '10', early_stopping: 'maybe' }, 'early_stopping', 'Choose one of auto, on, off.'],
  ])('rejects %o', (values, field, message) => {
    expect(validate(gbdt, values)[field]).toBe(message);
  });
  it('sends numbers, not strings', () => {
    expect(toParams(gbdt, { learning_rate: '0.05', max_iter: '300', early_stopping: 'off' })).toEqual({
      learning_rate: 0.05,
      max_iter: 300,
      early_stopping: 'off',
    });
  });
});

describe('live curve', () => {
  it('keeps one value per step, in order, without mutating', () => {
    const a = addPoints({}, [
      { key: 'loss', value: 0.9, step: 1 },
      { key: 'loss', value: 0.8, step: 2 },
    ]);
    const b = addPoints(a, [
      { key: 'loss', value: 0.7, step: 3 },
      { key: 'loss', value: 0.85, step: 2 },
      { key: 'val', value: NaN, step: 1 },
    ]);
    expect(a.loss).toHaveLength(2);
    expect(b.loss.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(b.loss[1].value).toBe(0.85);
    expect(b.val).toBeUndefined();
  });
  it('words states', () => {
    expect(stateLabel({ state: 'running', backend: 'local' })).toBe('Running locally');
    expect(stateLabel({ state: 'running', backend: 'docker' })).toBe('Running in Docker');
    expect(stateLabel({ state: 'crashed', backend: 'docker' })).toBe('Crashed');
  });
});

describe('bring your own image', () => {
  it('splits a command line, keeping quoted parts', () => {
    expect(splitCommand('python3 /app/train.py --alpha 0.5')).toEqual(['python3', '/app/train.py', '--alpha', '0.5']);
    expect(splitCommand(`python3 -c "print('hi there')"`)).toEqual(['python3', '-c', "print('hi there')"]);
    expect(splitCommand('   ')).toEqual([]);
  });
});

describe('held-out rows in words', () => {
  it('says fraction, seed and stratification for a classifier', () => {
    expect(holdoutText({ fraction: 0.2, seed: 42, rows: 1000, task: 'classification', dateColumns: [] })).toBe(
      '20 % of the rows (about 200) are held out to test the model, picked at random with seed 42, stratified by class so each class keeps its share.',
    );
  });
  it('says a regression split is not stratified and warns about dates', () => {
    const s = holdoutText({ fraction: 0.25, seed: 7, rows: 20000, task: 'regression', dateColumns: ['joined'] });
    expect(s).toContain('25 % of the rows (about 5,000)');
    expect(s).toContain('seed 7 (not stratified: the target is a number).');
    expect(s).toContain('not time-ordered');
    expect(s).toContain('joined');
  });
  it('names a run from dataset, version, model and time', () => {
    expect(defaultRunName('churn', 3, 'gbdt', new Date(2026, 11, 4, 9, 5))).toBe('churn v3 · gbdt · 09:05');
  });
});
