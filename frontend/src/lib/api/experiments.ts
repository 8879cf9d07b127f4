// Experiments: runs, search, run detail, compare. Thin typed wrappers over
// the bound Experiments methods; the same calls work in both faces.
import { call, on, type Args, type Loose, type Result } from './transport';
import { num as fmtNum } from '../format';

// Shapes generated from the Go types (bindings.gen.ts), named by method.
export type RunDetail = Result<'Experiments.Run'>;
export type Run = RunDetail['run'];
export type RunStatus = Run['status'];
export type Point = Run['metrics'][string];
/** Metric values arrive as numbers, or as "NaN"/"Infinity"/"-Infinity". */
export type MetricValue = Point['value'];
export type Experiment = Result<'Experiments.List'>[number];
export type SearchRequest = Loose<Args<'Experiments.Search'>[0]>;
export type SearchResult = Result<'Experiments.Search'>;
/** start/end are UTF-16 offsets into the query, ready for a text field's selection. */
export type QueryCheck = Result<'Experiments.CheckQuery'>;
export type Artifact = Result<'Experiments.Artifacts'>[number];
export type Comparison = Result<'Experiments.Compare'>;
export type CompareRow = Comparison['rows'][number];
export type SavedView = Result<'Experiments.Views'>[number];
export type ImportReport = Result<'Experiments.ImportMLruns'>;
export type TrashedRun = Result<'Experiments.Trash'>[number];

export const listExperiments = () => call('Experiments.List');
export const createExperiment = (name: string) => call('Experiments.Create', name);
export const search = (req: SearchRequest) =>
  call('Experiments.Search', { experimentIds: [], query: '', orderBy: [], ...req });
export const checkQuery = (q: string) => call('Experiments.CheckQuery', q);
export const columns = (experimentIds: string[] = []) => call('Experiments.Columns', experimentIds);
export const getRun = (id: string) => call('Experiments.Run', id);
export const series = (id: string, key: string, maxPoints = 1000) => call('Experiments.Series', id, key, maxPoints);
export const compare = (runIds: string[]) => call('Experiments.Compare', runIds);
export const setNote = (id: string, markdown: string) => call('Experiments.SetNote', id, markdown);
export const setTag = (id: string, key: string, value: string) => call('Experiments.SetTag', id, key, value);
export const deleteTag = (id: string, key: string) => call('Experiments.DeleteTag', id, key);
export const renameRun = (id: string, name: string) => call('Experiments.RenameRun', id, name);
/** Moves runs to the trash (MLflow's delete-run); restoreRuns brings them back. */
export const trashRuns = (ids: string[]) => call('Experiments.TrashRuns', ids);
export const restoreRuns = (ids: string[]) => call('Experiments.RestoreRuns', ids);
export const trash = () => call('Experiments.Trash');
/** Deletes runs in the trash for good; returns the artifact bytes freed. */
export const deleteRuns = (ids: string[]) => call('Experiments.DeleteRuns', ids);
export const artifacts = (id: string, dir = '') => call('Experiments.Artifacts', id, dir);
export const artifactText = (id: string, path: string) => call('Experiments.ArtifactText', id, path);
export const importMLruns = (dir: string) => call('Experiments.ImportMLruns', dir);
export const exportMLruns = (experimentId: string, runIds: string[], destDir: string) =>
  call('Experiments.ExportMLruns', experimentId, runIds, destDir);
export const views = () => call('Experiments.Views');
export const saveView = (v: SavedView) => call('Experiments.SaveView', v);
export const deleteView = (name: string) => call('Experiments.DeleteView', name);

/** Calls cb (at most every `ms`) when runs are created, change status,
 * log metrics or are deleted. Returns the unsubscribe function. */
export function onRunsChanged(
  cb: () => void,
  ms = 1000,
  topics = ['tracking.run.created', 'tracking.run.status', 'tracking.run.metrics', 'tracking.run.stage', 'tracking.run.deleted'],
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
