import { describe, expect, it } from 'vitest';
import { sanitize, validTag } from './locale';

describe('locale', () => {
  it('refuses the locale name WebKitGTK passes through without LANG', () => {
    expect(validTag('C')).toBe(false);
    expect(validTag('')).toBe(false);
    expect(validTag(undefined)).toBe(false);
    expect(validTag('en-GB')).toBe(true);
    expect(validTag('fr')).toBe(true);
  });
  it('keeps valid tags and falls back to en-US', () => {
    expect(sanitize(['C', 'de-DE', 'de'])).toEqual(['de-DE', 'de']);
    expect(sanitize(['C'])).toEqual(['en-US']);
    expect(sanitize([])).toEqual(['en-US']);
  });
  it('gives uPlot what it needs: a tag Intl.NumberFormat takes', () => {
    expect(() => new Intl.NumberFormat(sanitize(['C'])[0])).not.toThrow();
    expect(() => new Intl.NumberFormat('C')).toThrow(RangeError);
  });
});
