// The app's own dialogs (UI.md: never the browser's prompt/confirm/alert).
// A view awaits ask() or confirmAction(); the one AppDialog mounted in
// App.svelte shows the request and settles the promise. One dialog at a
// time: a second request replaces the first, which resolves as cancelled.

export interface AskOptions {
  title: string;
  /** The field's label, read by screen readers and shown above the field. */
  label: string;
  /** A sensible default, selected so typing replaces it. */
  value?: string;
  /** What the field is for, in a sentence under the title. */
  message?: string;
  placeholder?: string;
  /** The primary button's word ("Register", "Save"). */
  confirm?: string;
  /** Checks the value before the dialog closes; returns the error to show, or ''. */
  validate?: (v: string) => string;
}

export interface ConfirmOptions {
  title: string;
  message: string;
  confirm?: string;
  /** Paints the primary button as destructive (Delete). */
  danger?: boolean;
}

export type DialogRequest =
  | ({ kind: 'ask'; settle: (v: string | null) => void } & AskOptions)
  | ({ kind: 'confirm'; settle: (v: boolean) => void } & ConfirmOptions);

export const dialog = $state({ current: null as DialogRequest | null });

function cancelCurrent() {
  const c = dialog.current;
  if (!c) return;
  dialog.current = null;
  if (c.kind === 'ask') c.settle(null);
  else c.settle(false);
}

/** Asks for one line of text; null when the person cancels. The value is trimmed; empty counts as cancelled. */
export function ask(opts: AskOptions): Promise<string | null> {
  cancelCurrent();
  return new Promise((resolve) => {
    dialog.current = { kind: 'ask', ...opts, settle: (v) => resolve(v === null ? null : v.trim() || null) };
  });
}

/** Asks to go ahead with an action; false when the person cancels. */
export function confirmAction(opts: ConfirmOptions): Promise<boolean> {
  cancelCurrent();
  return new Promise((resolve) => {
    dialog.current = { kind: 'confirm', ...opts, settle: resolve };
  });
}

/** Closes the open dialog with an answer (AppDialog calls these). */
export function settle(value: string | boolean | null) {
  const c = dialog.current;
  if (!c) return;
  dialog.current = null;
  if (c.kind === 'ask') c.settle(typeof value === 'string' ? value : null);
  else c.settle(value === true);
}
