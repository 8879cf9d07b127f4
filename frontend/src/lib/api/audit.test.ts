import { describe, expect, it } from 'vitest';
import { change, faceLabel, fromLocal, objectLabel, target } from './audit';

describe('audit helpers', () => {
  it('names the face, and which one', () => {
    expect(faceLabel({ face: 'mlflow' })).toBe('MLflow client');
    expect(faceLabel({ face: 'job', who: 'abc' })).toBe('Training job · abc');
  });
  it('shows names, not ids, when there are names', () => {
    expect(objectLabel({ kind: 'model_version', id: 'churn/3', name: 'churn v3' })).toBe('churn v3');
    expect(objectLabel({ kind: 'dataset_version', id: 'x1' })).toBe('dataset version x1');
  });
  it('opens each object on its own page', () => {
    expect(target({ kind: 'model_version', id: 'fraud/team/2' })).toEqual({ area: 'model', name: 'fraud/team' });
    expect(target({ kind: 'run', id: 'r1' })).toEqual({ area: 'run', id: 'r1' });
    expect(target({ kind: 'token', id: 'access' })).toBeNull();
  });
  it('says the change in one line', () => {
    expect(change({ before: '@champion→v1', after: '@champion→v2' })).toBe('@champion→v1 → @champion→v2');
    expect(change({ before: 'RUNNING' })).toBe('was RUNNING');
    expect(change({})).toBe('');
  });
  it('reads the time filter as an instant', () => {
    expect(fromLocal('')).toBeUndefined();
    expect(fromLocal('nonsense')).toBeUndefined();
    expect(fromLocal('2026-12-04T10:30')).toBe(new Date('2026-12-04T10:30').toISOString());
  });
});
