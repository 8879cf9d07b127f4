export interface Command {
  id: string;
  label: string;
  hint?: string;
  run: () => void;
}

/**
 * Ranks commands for a query: every query word must appear in the label;
 * labels starting with the query come first, then shorter labels.
 */
export function rank(commands: Command[], query: string): Command[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return commands;
  const q = query.trim().toLowerCase();
  return commands
    .filter((c) => words.every((w) => c.label.toLowerCase().includes(w)))
    .sort((a, b) => {
      const pa = a.label.toLowerCase().startsWith(q) ? 0 : 1;
      const pb = b.label.toLowerCase().startsWith(q) ? 0 : 1;
      return pa - pb || a.label.length - b.label.length;
    });
}
