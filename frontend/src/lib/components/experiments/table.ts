// Pure helpers of the runs table, kept apart so they are unit-tested
// without a DOM.

export const ROW_HEIGHT = 32;
export const PAGE_SIZE = 200;

/** The rows to render for a scroll position: [start, end) with overscan. */
export function visibleWindow(scrollTop: number, viewport: number, total: number, overscan = 10): [number, number] {
  const first = Math.floor(Math.max(0, scrollTop) / ROW_HEIGHT);
  const count = Math.ceil(Math.max(0, viewport) / ROW_HEIGHT);
  const start = Math.max(0, first - overscan);
  const end = Math.min(total, first + count + overscan);
  return [start, Math.max(start, end)];
}

/** Offsets of the pages that hold rows [start, end). */
export function pagesFor(start: number, end: number, pageSize = PAGE_SIZE): number[] {
  const out: number[] = [];
  if (end <= start) return out;
  for (let p = Math.floor(start / pageSize) * pageSize; p < end; p += pageSize) out.push(p);
  return out;
}

/** Next sort after a click on a column header: DESC, then ASC, then none. */
export function nextSort(current: string[], col: string): string[] {
  const [cur] = current;
  if (!cur || !cur.startsWith(col + ' ')) return [`${col} DESC`];
  if (cur.endsWith(' DESC')) return [`${col} ASC`];
  return [];
}

/** Which way a column is sorted: 'desc', 'asc' or ''. */
export function sortDir(current: string[], col: string): 'asc' | 'desc' | '' {
  const [cur] = current;
  if (!cur || !cur.startsWith(col + ' ')) return '';
  return cur.endsWith(' DESC') ? 'desc' : 'asc';
}

/** Default columns: a few metrics first, then a few params. */
export function defaultColumns(all: string[], metrics = 6, params = 4): string[] {
  const m = all.filter((c) => c.startsWith('metrics.')).slice(0, metrics);
  const p = all.filter((c) => c.startsWith('params.')).slice(0, params);
  return [...m, ...p];
}

/** Splits a query around the span [start, end) an error points at. */
export function markSpan(q: string, start: number, end: number): [string, string, string] {
  const s = Math.max(0, Math.min(start, q.length));
  let e = Math.max(s, Math.min(end, q.length));
  // an error at the very end (the query stopped too soon) marks a space
  const mid = e > s ? q.slice(s, e) : ' ';
  if (e === s) e = s;
  return [q.slice(0, s), mid, q.slice(e)];
}
