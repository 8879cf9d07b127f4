// A small, safe Markdown renderer for run notes: everything is escaped
// first, then a few constructs become HTML (headings, lists, code, bold,
// italics, http(s) links). No raw HTML ever passes through.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

function inline(s: string): string {
  return esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*]+)\*/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
}

export function renderMarkdown(src: string): string {
  const out: string[] = [];
  let list = false;
  let code = false;
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push(`<p>${para.map(inline).join(' ')}</p>`);
    para = [];
  };
  for (const line of src.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.startsWith('```')) {
      flush();
      if (list) (out.push('</ul>'), (list = false));
      out.push(code ? '</code></pre>' : '<pre><code>');
      code = !code;
      continue;
    }
    if (code) {
      out.push(esc(line) + '\n');
      continue;
    }
    const h = /^(#{1,3})\s+(.*)$/.exec(line);
    const li = /^\s*[-*]\s+(.*)$/.exec(line);
    if (h) {
      flush();
      if (list) (out.push('</ul>'), (list = false));
      const n = h[1].length + 2; // notes sit under the page's own headings
      out.push(`<h${n}>${inline(h[2])}</h${n}>`);
    } else if (li) {
      flush();
      if (!list) (out.push('<ul>'), (list = true));
      out.push(`<li>${inline(li[1])}</li>`);
    } else if (line.trim() === '') {
      flush();
      if (list) (out.push('</ul>'), (list = false));
    } else {
      if (list) (out.push('</ul>'), (list = false));
      para.push(line.trim());
    }
  }
  flush();
  if (list) out.push('</ul>');
  if (code) out.push('</code></pre>');
  return out.join('');
}
