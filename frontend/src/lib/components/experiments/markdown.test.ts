import { describe, it, expect } from 'vitest';
import { renderMarkdown } from './markdown';

describe('run notes markdown', () => {
  it('renders the common constructs', () => {
    expect(renderMarkdown('# Title\nsome **bold** and *it* and `code`\n\n- a\n- b')).toBe(
      '<h3>Title</h3><p>some <strong>bold</strong> and <em>it</em> and <code>code</code></p><ul><li>a</li><li>b</li></ul>',
    );
    expect(renderMarkdown('```\nx < 1\n```')).toBe('<pre><code>x &lt; 1\n</code></pre>');
    expect(renderMarkdown('[docs](https://example.org/a)')).toContain('href="https://example.org/a"');
  });
  it('never lets HTML or script URLs through', () => {
    const html = renderMarkdown('<img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('href="javascript');
    expect(renderMarkdown('[a](https://x.org/"onmouseover=alert(1))')).not.toMatch(/href="[^"]*"on/);
  });
});
