// Datasets: import (drop, dialog, upload), versions, profiles, diffs, trash.
import { call, on, upload, isDesktop, ApiError } from './transport';

export type ColumnType = 'integer' | 'float' | 'boolean' | 'categorical' | 'datetime' | 'text';
export type Role = 'feature' | 'target' | 'id' | 'ignore';

export interface Column {
  name: string;
  type: ColumnType;
  role: Role;
  protected: boolean;
  dateLayout?: string;
}

export interface ImportOptions {
  name?: string;
  importId?: string;
  format?: 'csv' | 'jsonl' | 'parquet' | '';
  encoding?: string;
  delimiter?: string;
  header?: boolean | null;
  nullTokens?: string[] | null;
  types?: Record<string, ColumnType>;
}

export interface Version {
  id: string;
  datasetId: string;
  dataset: string;
  number: number;
  sourceName: string;
  size: number;
  digest: string;
  rows: number;
  columns: number;
  format: string;
  encoding?: string;
  delimiter?: string;
  header: boolean;
  schema: Column[];
  imported: string;
  importMillis: number;
  trashed: boolean;
  reused?: boolean;
}

export interface Dataset {
  id: string;
  name: string;
  created: string;
  latest: number;
  trashed: boolean;
}

export interface Summary extends Dataset {
  versions: number;
  current?: Version;
}

export interface Quantile {
  q: number;
  value: number;
}

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  count: number;
  missing: number;
  distinct: number;
  numeric?: {
    min: number;
    max: number;
    mean: number;
    std: number;
    nonFinite?: number;
    quantiles: Quantile[];
    histogram: { edges: number[]; counts: number[] };
  };
  categories?: { top: { value: string; count: number }[]; other: number; approximate: boolean };
  text?: { minLen: number; maxLen: number; meanLen: number };
}

export interface Profile {
  rows: number;
  columns: ColumnProfile[];
  correlations?: { columns: string[]; matrix: number[][]; rows: number };
  preview: string[][];
}

export interface ColumnShift {
  name: string;
  method: 'ks' | 'tvd';
  distance: number;
  missingFrom: number;
  missingTo: number;
  meanFrom?: number;
  meanTo?: number;
}

export interface Diff {
  from?: Version;
  to: Version;
  rowsDelta: number;
  added: Column[];
  removed: Column[];
  typeChanged: { name: string; from: ColumnType; to: ColumnType }[];
  columns: ColumnShift[];
}

export interface Detected {
  format: string;
  encoding: string;
  bom: boolean;
  delimiter?: string;
  header: boolean;
  nullTokens: string[];
  columns: Column[];
  rows: string[][];
}

export interface TrashInfo {
  datasets: Dataset[] | null;
  versions: Version[] | null;
  freesBytes: number;
  kept: string[] | null;
}

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

export interface ColumnEdit {
  name: string;
  type?: ColumnType;
  role?: Role;
  protected?: boolean;
}

export const list = () => call<Summary[] | null>('Datasets.List').then((x) => x ?? []);
export const versions = (datasetId: string) => call<Version[] | null>('Datasets.Versions', datasetId).then((x) => x ?? []);
export const version = (id: string) => call<Version>('Datasets.Version', id);
export const profile = (versionId: string) => call<Profile>('Datasets.Profile', versionId);
export const diff = (versionId: string) => call<Diff>('Datasets.Diff', versionId);
export const detect = (path: string, opts: ImportOptions = {}) => call<Detected>('Datasets.Detect', path, opts);
export const importPath = (path: string, opts: ImportOptions = {}) => call<Version>('Datasets.ImportPath', path, opts);
export const reimport = (versionId: string, opts: ImportOptions) => call<Version>('Datasets.Reimport', versionId, opts);
export const cancel = (importId: string) => call<boolean>('Datasets.Cancel', importId);
export const editSchema = (versionId: string, edits: ColumnEdit[]) => call<Version>('Datasets.EditSchema', versionId, edits);
export const columnChart = (versionId: string, column: string, width: number, height: number) =>
  call<string>('Datasets.ColumnChart', versionId, column, Math.round(width), Math.round(height));
export const trashDataset = (id: string) => call<TrashInfo>('Datasets.TrashDataset', id);
export const trashVersion = (id: string) => call<TrashInfo>('Datasets.TrashVersion', id);
export const restoreDataset = (id: string) => call<TrashInfo>('Datasets.RestoreDataset', id);
export const restoreVersion = (id: string) => call<TrashInfo>('Datasets.RestoreVersion', id);
export const trash = () => call<TrashInfo>('Datasets.Trash');
export const emptyTrash = () => call<{ blobs: number; bytes: number }>('Datasets.EmptyTrash');

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
