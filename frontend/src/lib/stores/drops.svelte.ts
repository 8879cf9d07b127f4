// Files dropped on the window, whatever area is open, become datasets: the
// import runs (its card shows on the Datasets page) and the app lands on
// the new version. Desktop: Wails gives absolute paths ("files.dropped")
// and the backend reads them in place. Browser: a drop anywhere uploads
// the files; a view that handles a drop itself (the Datasets drop zone,
// a deployment's "score a CSV") calls preventDefault and is left alone.
import * as api from '../api/datasets';
import { navigate } from '../router.svelte';
import { importFile, importPath } from './imports.svelte';
import { datasets, reloadDatasets } from './datasets.svelte';

export const drops = $state({
  /** A file is being dragged over the window (browser mode). */
  dragging: false,
});

async function landOn(v: api.Version | null) {
  await reloadDatasets();
  datasets.imported++;
  if (v) navigate('datasets', v.datasetId, v.id);
}

/** Imports files one after another, landing on each new version. */
export async function importFiles(files: File[]) {
  for (const f of files) await landOn(await importFile(f));
}

/** Imports paths on disk (desktop), landing on each new version. */
export async function importPaths(paths: string[]) {
  for (const p of paths) await landOn(await importPath(p));
}

const carriesFiles = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types ?? []).includes('Files');

export function startDrops(): () => void {
  const offDesktop = api.onFilesDropped((paths) => importPaths(paths ?? []));
  if (typeof window === 'undefined') return offDesktop;
  // dragenter/dragleave fire for every child crossed: count them.
  let depth = 0;
  const enter = (e: DragEvent) => {
    if (!carriesFiles(e)) return;
    depth++;
    drops.dragging = true;
  };
  const leave = () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) drops.dragging = false;
  };
  // Without preventDefault on dragover the browser never fires drop.
  const over = (e: DragEvent) => {
    if (carriesFiles(e)) e.preventDefault();
  };
  const drop = (e: DragEvent) => {
    depth = 0;
    drops.dragging = false;
    if (e.defaultPrevented || api.isDesktop()) return;
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (!files.length) return;
    e.preventDefault(); // or the browser opens the file in place of Tern
    importFiles(files);
  };
  window.addEventListener('dragenter', enter);
  window.addEventListener('dragleave', leave);
  window.addEventListener('dragover', over);
  window.addEventListener('drop', drop);
  return () => {
    offDesktop();
    window.removeEventListener('dragenter', enter);
    window.removeEventListener('dragleave', leave);
    window.removeEventListener('dragover', over);
    window.removeEventListener('drop', drop);
  };
}
