// Running imports, shown as cards with progress and Cancel. One store for
// both faces: the browser uploads a File, the desktop window imports the
// paths Wails' file drop gives. Progress is the larger of what was sent
// (browser) and what the backend has read, with the rows parsed so far.
import * as api from '../api/datasets';

export interface ImportItem {
  id: string;
  name: string;
  phase: 'sending' | 'reading' | 'done' | 'failed' | 'cancelled';
  bytes: number;
  total: number;
  rows: number;
  error: string;
  versionId: string;
  reused: boolean;
  started: number;
  /** How the backend is reading the file, known early: the preview to check. */
  detected: string;
  abort?: AbortController;
}

export const imports = $state<ImportItem[]>([]);

/** Follows the backend's import progress; App starts it once (stores/index.ts). */
export function startImports(): () => void {
  return api.onProgress((p) => {
    const it = imports.find((i) => i.id === p.importId);
    if (!it || it.phase === 'done' || it.phase === 'failed' || it.phase === 'cancelled') return;
    it.bytes = Math.max(it.bytes, p.bytes);
    it.rows = Math.max(it.rows, p.rows);
    if (p.total) it.total = p.total;
    if (p.detected) it.detected = api.describeDetected(p.detected);
    if (p.phase === 'reading') it.phase = 'reading';
  });
}

function start(name: string, total: number): ImportItem {
  imports.unshift({ id: api.newImportId(), name, phase: 'sending', bytes: 0, total, rows: 0, error: '', versionId: '', reused: false, started: Date.now(), detected: '' });
  return imports[0];
}

function finish(it: ImportItem, v: api.Version | null, e?: unknown) {
  if (v) {
    it.phase = 'done';
    it.versionId = v.id;
    it.rows = v.rows;
    it.bytes = it.total = v.size;
    it.reused = !!v.reused;
  } else if (e instanceof api.ApiError && (e.code === 'cancelled' || /cancelled/.test(e.message))) {
    it.phase = 'cancelled';
  } else {
    it.phase = 'failed';
    it.error = e instanceof Error ? e.message : String(e);
  }
}

/** Browser: uploads a file; resolves with the version (or null on failure). */
export async function importFile(file: File): Promise<api.Version | null> {
  const it = start(file.name, file.size);
  it.abort = new AbortController();
  try {
    const v = await api.uploadFile(file, {
      importId: it.id,
      signal: it.abort.signal,
      onProgress: (sent) => {
        if (it.phase === 'sending' || it.phase === 'reading') it.bytes = Math.max(it.bytes, sent);
      },
    });
    finish(it, v);
    return v;
  } catch (e) {
    finish(it, null, e);
    return null;
  }
}

/** Desktop: imports a path on disk. */
export async function importPath(path: string): Promise<api.Version | null> {
  const it = start(path.split(/[\\/]/).pop() || path, 0);
  it.phase = 'reading';
  try {
    const v = await api.importPath(path, { importId: it.id });
    finish(it, v);
    return v;
  } catch (e) {
    finish(it, null, e);
    return null;
  }
}

export async function cancelImport(it: ImportItem) {
  it.abort?.abort();
  try {
    await api.cancel(it.id);
  } catch {
    /* the upload's abort already stops it */
  }
  if (it.phase === 'sending' || it.phase === 'reading') it.phase = 'cancelled';
}

export function dismiss(it: ImportItem) {
  const i = imports.indexOf(it);
  if (i >= 0) imports.splice(i, 1);
}
