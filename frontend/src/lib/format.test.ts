import { describe, expect, it } from 'vitest';
import { num, compact, count, percent, millis, bytes, duration, dateTime, shortPath, NONE } from './format';

describe('num: the one number formatter', () => {
  it('shows four significant digits, integers whole', () => {
    expect(num(0.912345)).toBe('0.9123');
    expect(num(0.1 + 0.2)).toBe('0.3');
    expect(num(3.14159)).toBe('3.142');
    expect(num(1234.5678)).toBe('1235');
    expect(num(42)).toBe('42');
    expect(num(1234)).toBe('1234');
    expect(num(-0.5)).toBe('-0.5');
    expect(num(0)).toBe('0');
  });
  it('switches to exponents for very small and very large fractions', () => {
    expect(num(1e-7)).toBe('1e-7');
    expect(num(1.5e-7)).toBe('1.5e-7');
    expect(num(1.23456e-5)).toBe('1.235e-5');
    expect(num(12345678.9)).toBe('1.235e+7');
  });
  it('says "—" when there is no data and spells infinities', () => {
    expect(num(undefined)).toBe(NONE);
    expect(num(null)).toBe('—');
    expect(num(NaN)).toBe('—');
    expect(num('NaN')).toBe('NaN');
    expect(num(Infinity)).toBe('∞');
    expect(num('+Inf')).toBe('∞');
    expect(num('-Infinity')).toBe('−∞');
    expect(num(-Infinity)).toBe('−∞');
  });
  it('asks for other precision when a view needs it', () => {
    expect(num(0.123456, { digits: 2 })).toBe('0.12');
  });
  it('compacts large figures for narrow columns, keeping the digits aligned', () => {
    expect(compact(12345)).toBe('12.35k');
    expect(compact(2.5e6)).toBe('2.500M');
    expect(compact(-1_100_000)).toBe('-1.100M');
    expect(compact(3e9)).toBe('3.000B');
    expect(compact(1234)).toBe('1234');
    expect(compact(undefined)).toBe('—');
  });
});

describe('the other figures', () => {
  it('formats counts, shares and latencies', () => {
    expect(count(1234567)).toBe((1234567).toLocaleString());
    expect(count(undefined)).toBe('—');
    expect(percent(0.12345)).toBe('12.35%');
    expect(percent(0)).toBe('0%');
    expect(percent(null)).toBe('—');
    expect(millis(3.14159)).toBe('3.142 ms');
    expect(millis(undefined)).toBe('—');
  });
  it('formats sizes and durations', () => {
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(999)).toBe('999 B');
    expect(bytes(-1)).toBe('—');
    expect(duration(3_723_000)).toBe('1h 2m');
    expect(duration(65_000)).toBe('1m 5s');
    expect(duration(0)).toBe('');
  });
  it('reads Go zero times as none', () => {
    expect(dateTime('0001-01-01T00:00:00Z')).toBe('—');
    expect(dateTime('', 'never')).toBe('never');
    expect(dateTime('2026-01-02T03:04:05Z')).toBe(new Date('2026-01-02T03:04:05Z').toLocaleString());
    expect(dateTime(0)).toBe('—');
  });
  it('shortens paths from the left', () => {
    expect(shortPath('/a/b', 10)).toBe('/a/b');
    expect(shortPath('/home/someone/very/long/path/data', 12)).toBe('…g/path/data');
  });
});
