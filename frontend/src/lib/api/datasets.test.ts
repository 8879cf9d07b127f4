import { describe, expect, it } from 'vitest';
import { sortColumns, missingShare, newImportId, type ColumnProfile } from './datasets';

const col = (name: string, mean?: number, missing = 0): ColumnProfile => ({
  name,
  type: mean === undefined ? 'categorical' : 'float',
  count: 10,
  missing,
  distinct: 3,
  numeric: mean === undefined ? undefined : { min: 0, max: 1, mean, std: 1, quantiles: [], histogram: { edges: [], counts: [] }, sketch: null },
});

describe('datasets api helpers', () => {
  it('sorts by a numeric key with blanks last both ways', () => {
    const cols = [col('b', 2), col('city'), col('a', 1)];
    expect(sortColumns(cols, 'mean', false).map((c) => c.name)).toEqual(['a', 'b', 'city']);
    expect(sortColumns(cols, 'mean', true).map((c) => c.name)).toEqual(['b', 'a', 'city']);
    expect(sortColumns(cols, 'name', false).map((c) => c.name)).toEqual(['a', 'b', 'city']);
  });
  it('computes missing share and unique import ids', () => {
    expect(missingShare(col('x', 1, 10))).toBe(0.5);
    expect(newImportId()).not.toBe(newImportId());
  });
});

import { describeDetected } from './datasets';
describe('describeDetected', () => {
  it('says how the file is read in one line', () => {
    expect(
      describeDetected({ format: 'csv', encoding: 'utf-8', bom: true, delimiter: ';', header: true, nullTokens: [], rows: [], columns: [{ name: 'id', type: 'integer', role: 'id', protected: false }] }),
    ).toBe('csv, “;”-separated, header row, utf-8 (BOM) · 1 columns: id integer');
  });
});
