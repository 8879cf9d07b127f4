/** 1536 → "1.5 KB": decimal units, as file managers show them. */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** Shortens a long path from the left, keeping the end a person recognises. */
export function shortPath(p: string, max = 40): string {
  if (p.length <= max) return p;
  return '…' + p.slice(p.length - max + 1);
}
