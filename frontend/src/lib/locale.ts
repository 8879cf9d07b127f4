// WebKitGTK reports the POSIX locale as navigator.language ("C") when LANG is
// unset or C — a bare Xvfb, a CI runner, some minimal desktops. Intl refuses
// that tag, and uPlot builds an Intl.NumberFormat from navigator.language as
// soon as it loads, so the whole window stayed blank. Imported first by
// main.ts: an invalid tag is replaced by the first valid one the browser
// lists, else en-US.

/** Whether Intl accepts tag as a language tag. */
export function validTag(tag: string | undefined): tag is string {
  if (!tag) return false;
  try {
    return Intl.getCanonicalLocales(tag).length > 0;
  } catch {
    return false;
  }
}

/** The tags to report instead of languages, when any is invalid. */
export function sanitize(languages: readonly string[]): string[] {
  const ok = languages.filter(validTag);
  return ok.length > 0 ? ok : ['en-US'];
}

if (typeof navigator !== 'undefined' && !validTag(navigator.language)) {
  const langs = sanitize([navigator.language, ...(navigator.languages ?? [])]);
  Object.defineProperty(navigator, 'language', { get: () => langs[0], configurable: true });
  Object.defineProperty(navigator, 'languages', { get: () => langs, configurable: true });
}
