// Every number, size, time and duration the app shows goes through here, so
// the same figure reads the same way on every page (UI.md): four significant
// digits unless asked, integers without decimals, "—" when there is no data.

/** A value as the backend may send it: JSON cannot carry ±Inf or NaN, so some routes spell them. */
export type Figure = number | null | undefined | '+Inf' | '-Inf' | 'Infinity' | '-Infinity' | 'NaN';

/** What is shown for "no data yet". */
export const NONE = '—';

/** Strips the zeros toPrecision pads with: "0.5000" → "0.5", "1.500e-7" → "1.5e-7". */
function trim(s: string): string {
  return s.replace(/(\.\d*?)0+(?=$|e)/, '$1').replace(/\.(?=$|e)/, '');
}

export interface NumOptions {
  /** Significant digits (4 by default). */
  digits?: number;
  /** 12 345 → "12.35k", 2.5e6 → "2.500M": for narrow columns of counts and means. Keeps the padding zeros so a column's figures line up. */
  compact?: boolean;
}

/**
 * The one number formatter: 0.912345 → "0.9123", 42 → "42", 1e-7 → "1e-7",
 * null or NaN → "—", Infinity → "∞", the string "NaN" (a logged metric) → "NaN".
 */
export function num(v: Figure, { digits = 4, compact = false }: NumOptions = {}): string {
  if (v === null || v === undefined) return NONE;
  // A logged NaN is a value the run reported, not missing data.
  if (v === 'NaN') return 'NaN';
  if (v === '+Inf' || v === 'Infinity') return '∞';
  if (v === '-Inf' || v === '-Infinity') return '−∞';
  if (Number.isNaN(v)) return NONE;
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (compact && a >= 1e4) {
    const [d, unit] = a >= 1e9 ? [1e9, 'B'] : a >= 1e6 ? [1e6, 'M'] : [1e3, 'k'];
    return (v / d).toPrecision(digits) + unit;
  }
  if (Number.isInteger(v) && a < 1e15) return String(v);
  if (a >= 1e6 || a < 1e-4) return trim(v.toExponential(digits - 1));
  return trim(v.toPrecision(digits));
}

/** num with compact units, for narrow table columns: 12 345 → "12.35k". */
export const compact = (v: Figure): string => num(v, { compact: true });

/** A count, grouped for reading: 1300000 → "1,300,000" (in the person's locale). */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return NONE;
  return Math.round(n).toLocaleString();
}

/** A share 0..1 as a percentage: 0.1234 → "12.34%". */
export function percent(x: number | null | undefined, opts?: NumOptions): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return NONE;
  return `${num(x * 100, opts)}%`;
}

/** Milliseconds of latency: 3.14159 → "3.142 ms". */
export function millis(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return NONE;
  return `${num(x)} ms`;
}

/** 1536 → "1.5 KB": decimal units, as file managers show them. */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return NONE;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** 3 723 000 ms → "1h 2m"; "" when there is no duration yet. */
export function duration(ms: number): string {
  if (!ms || ms < 0) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

/** Epoch milliseconds as "2026-12-04 16:30" (a table's compact, sortable form); "" for none. */
export function shortTime(ms: number): string {
  if (!ms) return '';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * A time as the person's locale writes it. Takes an RFC 3339 string or
 * epoch milliseconds; Go's zero time ("0001-01-01…"), "" and 0 read as
 * `none`.
 */
export function dateTime(t: string | number | null | undefined, none = NONE): string {
  if (!t || (typeof t === 'string' && t.startsWith('0001'))) return none;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? none : d.toLocaleString();
}

/** Nanoseconds since the epoch as the locale's time of day (the prediction log's clock). */
export function timeOfDay(ns: number): string {
  return ns ? new Date(ns / 1e6).toLocaleTimeString() : NONE;
}

/** Shortens a long path from the left, keeping the end a person recognises. */
export function shortPath(p: string, max = 40): string {
  if (p.length <= max) return p;
  return '…' + p.slice(p.length - max + 1);
}
