// Experiments: runs, search, run detail, compare. Thin typed wrappers over
// the bound Experiments methods; the same calls work in both faces.
import { call, on } from './transport';
import { num as fmtNum } from '../format';

export type RunStatus = 'SCHEDULED' | 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED' | 'CRASHED';

/** Metric values arrive as numbers, or as "NaN"/"Infinity"/"-Infinity". */
export type MetricValue = number | 'NaN' | 'Infinity' | '-Infinity';

export interface Point {
  value: MetricValue;
  timestamp: number;
  step: number;
}

export interface Experiment {
  id: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
  creationTime: number;
  lastUpdateTime: number;
  tags: Record<string, string>;
  runCount: number;
}

export interface Run {
  id: string;
  experimentId: string;
  name: string;
  status: RunStatus;
  startTime: number;
  endTime: number;
  userId: string;
  lifecycleStage: string;
  artifactUri: string;
  source?: string;
  datasetVersion?: string;
  imageDigest?: string;
  gitCommit?: string;
  note?: string;
  statusReason?: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: Record<string, Point>;
  lastHeartbeat: number;
}

export interface SearchRequest {
  experimentIds?: string[];
  query?: string;
  orderBy?: string[];
  maxResults?: number;
  offset?: number;
  viewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
  /** Trim each run to these columns ("metrics.auc", "params.lr"). */
  columns?: string[];
}

export interface SearchResult {
  runs: Run[];
  nextPageToken: string;
  total: number;
  offset: number;
}

export interface QueryCheck {
  ok: boolean;
  /** UTF-16 offsets into the query, ready for a text field's selection. */
  start: number;
  end: number;
  column: number;
  message: string;
}

export interface Artifact {
  path: string;
  isDir: boolean;
  size: number;
}

export interface RunDetail {
  run: Run;
  experiment: Experiment;
  metricKeys: string[];
  artifacts: Artifact[];
  durationMs: number;
}

export interface CompareRow {
  column: string;
  values: string[];
  differs: boolean;
}

export interface Comparison {
  runs: Run[];
  rows: CompareRow[];
  metricKeys: string[];
  parallel: string;
}

export interface SavedView {
  name: string;
  experimentIds: string[];
  query: string;
  orderBy: string[];
  columns: string[];
}

export const listExperiments = () => call<Experiment[]>('Experiments.List');
export const createExperiment = (name: string) => call<Experiment>('Experiments.Create', name);
export const search = (req: SearchRequest) =>
  call<SearchResult>('Experiments.Search', { experimentIds: [], query: '', orderBy: [], ...req });
export const checkQuery = (q: string) => call<QueryCheck>('Experiments.CheckQuery', q);
export const columns = (experimentIds: string[] = []) => call<string[]>('Experiments.Columns', experimentIds);
export const getRun = (id: string) => call<RunDetail>('Experiments.Run', id);
export const series = (id: string, key: string, maxPoints = 1000) => call<Point[]>('Experiments.Series', id, key, maxPoints);
export const metricChart = (runIds: string[], key: string, width: number, height: number) =>
  call<string>('Experiments.MetricChart', runIds, key, Math.round(width), Math.round(height));
export const compare = (runIds: string[]) => call<Comparison>('Experiments.Compare', runIds);
export const setNote = (id: string, markdown: string) => call<void>('Experiments.SetNote', id, markdown);
export const setTag = (id: string, key: string, value: string) => call<void>('Experiments.SetTag', id, key, value);
export const deleteTag = (id: string, key: string) => call<void>('Experiments.DeleteTag', id, key);
export const renameRun = (id: string, name: string) => call<void>('Experiments.RenameRun', id, name);
export const deleteRuns = (ids: string[]) => call<number>('Experiments.DeleteRuns', ids);
export const artifacts = (id: string, dir = '') => call<Artifact[]>('Experiments.Artifacts', id, dir);
export const artifactText = (id: string, path: string) => call<string>('Experiments.ArtifactText', id, path);
export interface ImportReport {
  experiments: number;
  runs: number;
  skipped: number;
  points: number;
  artifacts: number;
  warnings: string[] | null;
}
export const importMLruns = (dir: string) => call<ImportReport>('Experiments.ImportMLruns', dir);
export const exportMLruns = (experimentId: string, runIds: string[], destDir: string) =>
  call<number>('Experiments.ExportMLruns', experimentId, runIds, destDir);
export const views = () => call<SavedView[]>('Experiments.Views');
export const saveView = (v: SavedView) => call<void>('Experiments.SaveView', v);
export const deleteView = (name: string) => call<void>('Experiments.DeleteView', name);

/** Calls cb (at most every `ms`) when runs are created, change status,
 * log metrics or are deleted. Returns the unsubscribe function. */
export function onRunsChanged(
  cb: () => void,
  ms = 1000,
  topics = ['tracking.run.created', 'tracking.run.status', 'tracking.run.metrics', 'tracking.run.deleted'],
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      cb();
    }, ms);
  };
  const offs = topics.map((t) => on(t, fire));
  return () => {
    offs.forEach((off) => off());
    if (timer) clearTimeout(timer);
  };
}

/** A metric value as a number (NaN for missing, ±Infinity kept). */
export function num(v: MetricValue | undefined): number {
  if (v === undefined) return NaN;
  if (typeof v === 'number') return v;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return NaN;
}

/** A metric value for a table cell: the one formatter, blank when the run has no such metric. */
export function fmtMetric(v: MetricValue | undefined): string {
  return v === undefined ? '' : fmtNum(v);
}

/** The value a column shows for a run. */
export function cellText(run: Run, col: string): string {
  if (col.startsWith('metrics.')) return fmtMetric(run.metrics[col.slice(8)]?.value);
  if (col.startsWith('params.')) return run.params[col.slice(7)] ?? '';
  if (col.startsWith('tags.')) return run.tags[col.slice(5)] ?? '';
  return '';
}

/** Quotes a column for the query language when its name needs it. */
export function queryColumn(col: string): string {
  const dot = col.indexOf('.');
  const kind = col.slice(0, dot);
  const name = col.slice(dot + 1);
  return /^[A-Za-z_][\w.\-/:]*$/.test(name) ? `${kind}.${name}` : `${kind}.\`${name.replace(/`/g, '``')}\``;
}
