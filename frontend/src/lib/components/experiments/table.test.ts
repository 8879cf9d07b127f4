import { describe, it, expect } from 'vitest';
import { visibleWindow, pagesFor, nextSort, sortDir, defaultColumns, markSpan, ROW_HEIGHT } from './table';
import { duration as fmtDuration } from '../../format';
import { fmtMetric, num, queryColumn, cellText, type Run } from '../../api/experiments';

describe('runs table helpers', () => {
  it('renders only the rows in view, with overscan', () => {
    expect(visibleWindow(0, 320, 10_000)).toEqual([0, 20]);
    expect(visibleWindow(ROW_HEIGHT * 5000, 320, 10_000)).toEqual([4990, 5020]);
    expect(visibleWindow(ROW_HEIGHT * 9995, 320, 10_000)).toEqual([9985, 10_000]);
    expect(visibleWindow(0, 320, 0)).toEqual([0, 0]);
  });
  it('loads the pages that cover the window', () => {
    expect(pagesFor(0, 20)).toEqual([0]);
    expect(pagesFor(190, 230)).toEqual([0, 200]);
    expect(pagesFor(5, 5)).toEqual([]);
  });
  it('cycles sort DESC → ASC → none', () => {
    expect(nextSort([], 'metrics.auc')).toEqual(['metrics.auc DESC']);
    expect(nextSort(['metrics.auc DESC'], 'metrics.auc')).toEqual(['metrics.auc ASC']);
    expect(nextSort(['metrics.auc ASC'], 'metrics.auc')).toEqual([]);
    expect(nextSort(['metrics.auc ASC'], 'metrics.f1')).toEqual(['metrics.f1 DESC']);
    expect(sortDir(['metrics.auc ASC'], 'metrics.auc')).toBe('asc');
    expect(sortDir(['metrics.auc1 ASC'], 'metrics.auc')).toBe('');
  });
  it('picks metrics then params by default', () => {
    expect(defaultColumns(['metrics.a', 'params.x', 'tags.t', 'metrics.b'], 1, 1)).toEqual(['metrics.a', 'params.x']);
  });
  it('marks the span an error points at', () => {
    expect(markSpan('metrics.auc ~ 3', 12, 13)).toEqual(['metrics.auc ', '~', ' 3']);
    expect(markSpan('metrics.auc >', 13, 13)).toEqual(['metrics.auc >', ' ', '']);
  });
  it('formats values for cells', () => {
    expect(fmtMetric(0.912345)).toBe('0.9123');
    expect(fmtMetric('NaN')).toBe('NaN');
    expect(fmtMetric('-Infinity')).toBe('−∞');
    expect(fmtMetric(1e-7)).toBe('1e-7');
    expect(fmtMetric(42)).toBe('42');
    expect(num('Infinity')).toBe(Infinity);
    expect(Number.isNaN(num(undefined))).toBe(true);
    expect(fmtDuration(3_723_000)).toBe('1h 2m');
  });
  it('quotes column names the query language needs quoted', () => {
    expect(queryColumn('metrics.auc')).toBe('metrics.auc');
    expect(queryColumn('metrics.val loss')).toBe('metrics.`val loss`');
    const run = { metrics: { auc: { value: 0.5, step: 0, timestamp: 0 } }, params: { lr: '0.1' }, tags: {} } as unknown as Run;
    expect(cellText(run, 'metrics.auc')).toBe('0.5');
    expect(cellText(run, 'params.lr')).toBe('0.1');
    expect(cellText(run, 'tags.none')).toBe('');
  });
});
