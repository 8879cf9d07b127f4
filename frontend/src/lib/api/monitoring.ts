// Monitoring: monitors (a deployment's traffic or two dataset versions
// against a frozen reference), drift reports, alert rules and alerts.
import { call, on, upload, isDesktop, type Loose, type Result } from './transport';

// Go answers a nil pointer only together with an error, so a resolved call has a value.
const some = <T>(x: unknown): T => x as T;
import { num } from '../format';

// Shapes generated from the Go types (bindings.gen.ts), named by method.
// Every report has its drift result (Go's pointer is never nil there).
type GenReport = NonNullable<Result<'Monitoring.Report'>>;
export type DriftResult = NonNullable<GenReport['drift']>;
export type Report = Omit<GenReport, 'drift'> & { drift: DriftResult };
export type Verdict = DriftResult['columns'][number];
/** Go's drift.Num: null for NaN, "+Inf"/"-Inf" for infinities. */
export type Num = Verdict['statistic'];
export type Test = NonNullable<Verdict['test']>;
export type Overlay = NonNullable<Verdict['overlay']>;
export type Ops = NonNullable<Report['ops']>;
export type Alert = Result<'Monitoring.Alerts'>[number];
export type RuleKind = Alert['kind'];
export type ReportSummary = Result<'Monitoring.Reports'>[number];
/** Monitor.every and window.last are nanoseconds; every 0 runs on demand. */
export type Monitor = Result<'Monitoring.Monitors'>[number];
export type Rule = NonNullable<Monitor['rules']>[number];
/** What creating a monitor or a rule takes: the IDs and times are the backend's to fill. */
export type NewMonitor = Loose<Monitor>;
export type NewRule = Loose<Rule>;
export type Window = Monitor['window'];

export const listMonitors = () => call('Monitoring.Monitors');
export const createMonitor = (m: NewMonitor) => call('Monitoring.CreateMonitor', m);
export const deleteMonitor = (id: string) => call('Monitoring.DeleteMonitor', id);
export const setRules = (id: string, rules: NewRule[]) => call('Monitoring.SetRules', id, rules);
export const runMonitor = (id: string) => call('Monitoring.Run', id).then(some<Report>);
export const listReports = (limit = 50) => call('Monitoring.Reports', limit);
export const getReport = (id: string) => call('Monitoring.Report', id).then(some<Report>);
export const reportHTML = (id: string) => call('Monitoring.ReportHTML', id);
export const columnChart = (reportId: string, column: string) => call('Monitoring.Chart', reportId, column);
export const compareFiles = (refPath: string, curPath: string) => call('Monitoring.CompareFiles', refPath, curPath).then(some<Report>);
export const listAlerts = (limit = 50) => call('Monitoring.Alerts', limit);

export const onAlert = (cb: (a: Alert) => void) => on('monitor.alert', (d) => cb(d as Alert));
export const onReport = (cb: (r: ReportSummary) => void) => on('monitor.report', (d) => cb(d as ReportSummary));

/** The number a verdict is judged by: its p-value or its distance. */
export function verdictValue(v: Verdict): Num {
  return v.test === 'ks' || v.test === 'chisquare' || v.test === 'z' ? v.pValue : v.distance;
}

/** A Num as a person reads it: the one formatter (4 significant digits, — for none). */
export const fmtNum = (n: Num | undefined): string => num(n);

/** A sortable number for a Num (none last). */
export function numKey(n: Num | undefined): number {
  if (n === null || n === undefined) return Number.POSITIVE_INFINITY;
  if (n === '+Inf') return Number.MAX_VALUE;
  if (n === '-Inf') return -Number.MAX_VALUE;
  return n;
}

export function verdictLabel(v: Verdict): 'drift' | 'significant but small' | 'no drift' | 'insufficient data' | 'skipped' {
  if (v.status === 'skipped') return 'skipped';
  if (v.status !== 'ok') return 'insufficient data';
  if (v.drift) return 'drift';
  if (v.smallEffect) return 'significant but small';
  return 'no drift';
}

export const testNames: Record<Test, string> = {
  ks: 'Kolmogorov–Smirnov',
  chisquare: 'chi-square',
  z: 'z-test',
  wasserstein: 'Wasserstein (normed)',
  jensenshannon: 'Jensen–Shannon',
  psi: 'PSI',
  kl: 'KL divergence',
  hellinger: 'Hellinger',
};

/** Download a report: HTML via the bound method (works on desktop too), PDF via the route (browser mode). */
export async function downloadHTML(id: string): Promise<void> {
  const html = await reportHTML(id);
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `drift-report-${id}.html`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Realised performance: labels (request_id, label) joined to logged
// predictions by the X-Request-Id the deployment returned.

export type Metric = 'accuracy' | 'precision' | 'recall' | 'f1' | 'roc_auc' | 'rmse' | 'mae' | 'r2';

export const metricNames: Record<Metric, string> = {
  accuracy: 'accuracy',
  precision: 'precision',
  recall: 'recall',
  f1: 'F1',
  roc_auc: 'ROC-AUC',
  rmse: 'RMSE',
  mae: 'MAE',
  r2: 'R²',
};

export const metricOrder: Metric[] = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'rmse', 'mae', 'r2'];

export type Performance = NonNullable<Result<'Monitoring.Performance'>>;
export type PerfWindow = Performance['windows'][number];
export type LabelResult = NonNullable<Result<'Monitoring.LabelsFromFile'>>;

export const getPerformance = (monitorId: string) => call('Monitoring.Performance', monitorId);
export const performanceChart = (monitorId: string, metric = '') =>
  call('Monitoring.PerformanceChart', monitorId, metric);

/** Desktop: a label file by its path on this machine. */
export const labelsFromFile = (monitorId: string, path: string, task = '', window = '') =>
  call('Monitoring.LabelsFromFile', monitorId, path, task, window).then(some<LabelResult>);

/** Browser: upload a dropped or chosen label file to the raw route. */
export function uploadLabels(monitorId: string, file: Blob, window = ''): Promise<LabelResult> {
  const p = new URLSearchParams();
  if (window) p.set('window', window);
  if (file instanceof File && file.name) p.set('name', file.name); // kept in the lineage of datasets made from traffic
  const q = p.size ? `?${p}` : '';
  return upload<LabelResult>(`/api/monitor/monitors/${encodeURIComponent(monitorId)}/labels${q}`, file, { method: 'POST' });
}

/** The metrics a performance has, in display order. */
export function presentMetrics(p: Performance): Metric[] {
  return metricOrder.filter((m) => p.overall?.metrics?.[m] !== undefined);
}

export { isDesktop };

export type TrafficResult = NonNullable<Result<'Monitoring.TrafficDataset'>>;

/**
 * Labelled traffic → the next version of a dataset. from/to are
 * datetime-local strings ('' for unbounded), read in the user's zone.
 */
export function trafficDataset(monitorId: string, from: string, to: string, dataset = '', importId = '') {
  const iso = (s: string) => (s ? new Date(s).toISOString() : undefined);
  return call('Monitoring.TrafficDataset', monitorId, { from: iso(from), to: iso(to), dataset: dataset || undefined, importId: importId || undefined }).then(
    some<TrafficResult>,
  );
}

/** What a traffic dataset left out, in words ("" when nothing was). */
export function skippedWords(skipped: Record<string, number> | undefined): string {
  const parts = Object.entries(skipped ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([why, n]) => `${n} label${n === 1 ? '' : 's'}: ${why}`);
  return parts.join('; ');
}
