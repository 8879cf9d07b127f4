// The theme follows the OS unless the person picked one in Settings; the
// choice is a per-machine preference, so it lives in localStorage.
export type Theme = 'system' | 'light' | 'dark';
const KEY = 'tern.theme';

export function savedTheme(): Theme {
  const t = typeof localStorage === 'undefined' ? null : localStorage.getItem(KEY);
  return t === 'light' || t === 'dark' ? t : 'system';
}

const osDark = () => typeof matchMedia !== 'undefined' && matchMedia('(prefers-color-scheme: dark)').matches;
let following = false;

/**
 * Names the theme on <html> (app.css keys the palette on it), resolving
 * "system" from the OS and following the OS while it is chosen.
 */
export function applyTheme(t: Theme = savedTheme()) {
  const dark = t === 'dark' || (t === 'system' && osDark());
  document.documentElement.setAttribute('data-theme', dark ? 'dark' : 'light');
  if (!following && typeof matchMedia !== 'undefined') {
    following = true;
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (savedTheme() === 'system') applyTheme('system');
    });
  }
}

export function setTheme(t: Theme) {
  if (t === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, t);
  applyTheme(t);
}
