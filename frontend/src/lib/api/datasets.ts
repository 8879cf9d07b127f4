// Datasets: import (drop, dialog, upload), versions, profiles, diffs, trash.
import { call, on, upload, isDesktop, ApiError, type Args, type Loose, type Result } from './transport';

// The shapes are the Go types', generated into bindings.gen.ts; named
// here by the method that returns them, so a Go type moving package does
// not rename anything the views use.
export type Version = Result<'Datasets.Version'>;
export type Summary = Result<'Datasets.List'>[number];
export type Dataset = Result<'Datasets.Trash'>['datasets'][number];
export type Column = Version['schema'][number];
export type ColumnType = Column['type'];
export type Role = Column['role'];
export type ImportOptions = Loose<Args<'Datasets.ImportPath'>[1]>;
export type Profile = Result<'Datasets.Profile'>;
export type ColumnProfile = Profile['columns'][number];
export type Quantile = NonNullable<ColumnProfile['numeric']>['quantiles'][number];
export type Diff = Result<'Datasets.Diff'>;
export type ColumnShift = Diff['columns'][number];
export type Detected = Result<'Datasets.Detect'>;
export type TrashInfo = Result<'Datasets.Trash'>;
export type ColumnEdit = Loose<Args<'Datasets.EditSchema'>[1][number]>;
export type Rule = Result<'Datasets.Rules'>[number];
export type RuleKind = Rule['kind'];
export type Validation = Result<'Datasets.Check'>;
export type RuleResult = Validation['results'][number];

/** "dataset.import.progress" events (not a method result, so written here). */
export interface ImportProgress {
  importId: string;
  name: string;
  phase: 'reading' | 'done' | 'failed' | 'cancelled';
  bytes: number;
  total: number;
  rows: number;
  error?: string;
  versionId?: string;
  detected?: Detected;
}

export const list = () => call('Datasets.List').then((x) => x ?? []);
export const versions = (datasetId: string) => call('Datasets.Versions', datasetId).then((x) => x ?? []);
export const version = (id: string) => call('Datasets.Version', id);
export const profile = (versionId: string) => call('Datasets.Profile', versionId);
export const diff = (versionId: string) => call('Datasets.Diff', versionId);
export const detect = (path: string, opts: ImportOptions = {}) => call('Datasets.Detect', path, opts);
export const importPath = (path: string, opts: ImportOptions = {}) => call('Datasets.ImportPath', path, opts);
export const reimport = (versionId: string, opts: ImportOptions) => call('Datasets.Reimport', versionId, opts);
export const cancel = (importId: string) => call('Datasets.Cancel', importId);
export const editSchema = (versionId: string, edits: ColumnEdit[]) => call('Datasets.EditSchema', versionId, edits);
export const columnChart = (versionId: string, column: string, width: number, height: number) =>
  call('Datasets.ColumnChart', versionId, column, Math.round(width), Math.round(height));
export const trashDataset = (id: string) => call('Datasets.TrashDataset', id);
export const trashVersion = (id: string) => call('Datasets.TrashVersion', id);
export const restoreDataset = (id: string) => call('Datasets.RestoreDataset', id);
export const restoreVersion = (id: string) => call('Datasets.RestoreVersion', id);
export const trash = () => call('Datasets.Trash');
export const rules = (datasetId: string) => call('Datasets.Rules', datasetId).then((x) => x ?? []);
export const setRules = (datasetId: string, list: Rule[]) => call('Datasets.SetRules', datasetId, list).then((x) => x ?? []);
export const suggestRules = (versionId: string) => call('Datasets.SuggestRules', versionId).then((x) => x ?? []);
export const validation = (versionId: string) => call('Datasets.Validation', versionId);
export const check = (versionId: string) => call('Datasets.Check', versionId);
export const emptyTrash = () => call('Datasets.EmptyTrash');

/** A fresh import ID, chosen by the UI so it can cancel before the call returns. */
export function newImportId(): string {
  return 'imp-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 8);
}

/** Browser mode: streams a dropped or chosen file to the upload route. */
export function uploadFile(
  file: File,
  opts: { importId: string; name?: string; onProgress?: (sent: number, total: number) => void; signal?: AbortSignal },
): Promise<Version> {
  const q = new URLSearchParams({ filename: file.name, importId: opts.importId });
  if (opts.name) q.set('name', opts.name);
  return upload<Version>(`/api/datasets/upload?${q}`, file, {
    method: 'POST',
    signal: opts.signal,
    onProgress: (p) => opts.onProgress?.(p.loaded, p.total),
  });
}

export const onProgress = (cb: (p: ImportProgress) => void) => on('dataset.import.progress', cb);
export const onChanged = (cb: () => void) => on('dataset.changed', cb);
/** Desktop: absolute paths dropped on the window (the app shell forwards Wails' file drop). */
export const onFilesDropped = (cb: (paths: string[]) => void) =>
  on('files.dropped', (d: { paths?: string[] } | string[]) => cb(Array.isArray(d) ? d : (d?.paths ?? [])));

export { isDesktop, ApiError };

/** One line saying how a file is being read: “csv, “;”, header, windows-1252 · 4 columns: id integer, …”. */
export function describeDetected(d: Detected): string {
  const parts: string[] = [d.format];
  if (d.delimiter) parts.push(d.delimiter === '\t' ? 'tab-separated' : `“${d.delimiter}”-separated`);
  if (d.format === 'csv') parts.push(d.header ? 'header row' : 'no header');
  parts.push(d.encoding + (d.bom ? ' (BOM)' : ''));
  const cols = d.columns.slice(0, 6).map((c) => `${c.name} ${c.type}`);
  if (d.columns.length > 6) cols.push(`… ${d.columns.length - 6} more`);
  return `${parts.join(', ')} · ${d.columns.length} columns: ${cols.join(', ')}`;
}

/** Fraction of rows missing, 0..1. */
export function missingShare(c: ColumnProfile): number {
  const n = c.count + c.missing;
  return n === 0 ? 0 : c.missing / n;
}

export type SortKey = 'name' | 'type' | 'missing' | 'distinct' | 'mean' | 'std' | 'min' | 'max';

/** Sorts column profiles; numbers missing for a column sort last either way. */
export function sortColumns(cols: ColumnProfile[], key: SortKey, desc: boolean): ColumnProfile[] {
  const val = (c: ColumnProfile): number | string | undefined => {
    switch (key) {
      case 'name':
        return c.name.toLowerCase();
      case 'type':
        return c.type;
      case 'missing':
        return missingShare(c);
      case 'distinct':
        return c.distinct;
      default:
        return c.numeric?.[key];
    }
  };
  return [...cols].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    if (x === undefined && y === undefined) return 0;
    if (x === undefined) return 1;
    if (y === undefined) return -1;
    const r = x < y ? -1 : x > y ? 1 : 0;
    return desc ? -r : r;
  });
}
