import { describe, expect, it } from 'vitest';
import { progressText, sourceText, svgSrc, type Global } from './explanations';

describe('explanations', () => {
  it('says where the explained rows came from', () => {
    const g = { rows: 450, validation: true, method: 'TreeSHAP (path-dependent)', dataset: 'credit v1', output: 'the margin', link: 'logit' } as Global;
    expect(sourceText(g)).toBe(`TreeSHAP (path-dependent) on ${(450).toLocaleString()} validation rows of credit v1; explains the margin (logit)`);
    expect(sourceText({ ...g, validation: false })).toContain(' rows of credit v1');
  });
  it('words progress', () => {
    expect(progressText(null)).toBe('Starting…');
    expect(progressText({ jobId: 'j', phase: 'drawing', rows: 3 })).toBe('Drawing the charts…');
  });
  it('makes an image source of an SVG, text with non-ASCII included', () => {
    expect(svgSrc('<svg>é</svg>')).toMatch(/^data:image\/svg\+xml;base64,/);
  });
});

import { firstRecord, waterfall, type Local } from './explanations';

describe('waterfall', () => {
  const l: Local = {
    model: 'credit', version: 1, method: 'TreeSHAP', link: 'logit', output: 'log-odds of class 1', base: -0.5, margin: 1.2,
    contributions: [
      { name: 'income', value: '88.5', shap: 2 },
      { name: 'age', value: '', shap: -0.4 },
      { name: 'noise', value: '0.1', shap: 0.06 },
      { name: 'region', value: 'west', shap: 0.04 },
    ],
  };
  it('stacks the largest contributions from the average to the prediction, the rest summed', () => {
    const { rows, min, max } = waterfall(l, 2);
    expect(rows.map((r) => r.label)).toEqual(['Model average', 'income = 88.5', 'age (missing)', '2 other columns', 'This prediction']);
    expect(rows[1]).toMatchObject({ start: -0.5, end: 1.5, kind: 'up' });
    expect(rows[2]).toMatchObject({ start: 1.5, kind: 'down' });
    expect(rows[2].end).toBeCloseTo(1.1);
    expect(rows[3].shap).toBeCloseTo(0.1);
    expect(rows[4].end).toBeCloseTo(l.margin);
    expect(min).toBe(-0.5);
    expect(max).toBe(1.5);
  });
  it('reads the row a Try-it request sent', () => {
    expect(firstRecord(JSON.stringify({ dataframe_split: { columns: ['a', 'b'], data: [[1, null]] } }))).toEqual({ a: 1, b: null });
  });
});
