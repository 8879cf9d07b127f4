// A line diff of a pipeline's YAML against its saved version (the YAML
// tab's "Changes"): the longest common subsequence of lines, which for
// files of a few hundred lines is instant and exact.

export interface DiffLine {
  kind: 'same' | 'add' | 'del';
  text: string;
  /** 1-based line in the saved file (same, del) or in the edited text (add). */
  line: number;
}

/** Lines of `after` against `before`, in order; unchanged files give only 'same'. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = split(before);
  const b = split(after);
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: the common subsequence length of a[i:] and b[j:].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i], line: i + 1 });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ kind: 'del', text: a[i], line: i + 1 });
      i++;
    } else {
      out.push({ kind: 'add', text: b[j], line: j + 1 });
      j++;
    }
  }
  return out;
}

function split(s: string): string[] {
  const lines = s.replace(/\r\n/g, '\n').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The changed lines with `context` unchanged lines around each change; gaps become one "…" marker (kind 'same', line 0). */
export function hunks(diff: DiffLine[], context = 2): DiffLine[] {
  const keep = diff.map(() => false);
  diff.forEach((d, k) => {
    if (d.kind === 'same') return;
    for (let x = Math.max(0, k - context); x <= Math.min(diff.length - 1, k + context); x++) keep[x] = true;
  });
  const out: DiffLine[] = [];
  let gap = false;
  diff.forEach((d, k) => {
    if (keep[k]) {
      out.push(d);
      gap = false;
    } else if (!gap) {
      out.push({ kind: 'same', text: '…', line: 0 });
      gap = true;
    }
  });
  return out;
}

/** The line a worded error names ("Line 7: …"), or 0. */
export function errorLine(message: string): number {
  const m = /\bLine (\d+)\b/i.exec(message);
  return m ? Number(m[1]) : 0;
}
