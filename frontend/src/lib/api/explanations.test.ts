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
