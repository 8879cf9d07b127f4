// The theme follows the OS unless the person picked one in Settings; the
// choice is a per-machine preference, so it lives in localStorage.
export type Theme = 'system' | 'light' | 'dark';
const KEY = 'tern.theme';

export function savedTheme(): Theme {
  const t = typeof localStorage === 'undefined' ? null : localStorage.getItem(KEY);
  return t === 'light' || t === 'dark' ? t : 'system';
}

export function applyTheme(t: Theme = savedTheme()) {
  const root = document.documentElement;
  if (t === 'system') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', t);
}

export function setTheme(t: Theme) {
  if (t === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, t);
  applyTheme(t);
}
