// Monitoring: monitors (a deployment's traffic or two dataset versions
// against a frozen reference), drift reports, alert rules and alerts.
import { call, on, upload, isDesktop } from './transport';
import { num } from '../format';

/** Go's drift.Num: null for NaN, "+Inf"/"-Inf" for infinities. */
export type Num = number | null | '+Inf' | '-Inf';

export type Test = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'jensenshannon' | 'psi' | 'kl' | 'hellinger';

export interface Overlay {
  kind: 'numeric' | 'categorical';
  edges?: number[];
  labels?: string[];
  ref: number[];
  cur: number[];
}

export interface Verdict {
  column: string;
  kind: 'numeric' | 'categorical';
  status: 'ok' | 'insufficient_data' | 'skipped';
  test?: Test;
  reason: string;
  method?: string;
  statistic: Num;
  pValue: Num;
  distance: Num;
  threshold: Num;
  rule?: string;
  significant: boolean;
  drift: boolean;
  effect?: { name: string; value: Num; min: Num };
  smallEffect?: boolean;
  approximate?: boolean;
  errorBound?: Num;
  refCount: number;
  curCount: number;
  refMissing: number;
  curMissing: number;
  unseen?: string[];
  unseenCount?: number;
  note?: string;
  overlay?: Overlay;
}

export interface DriftResult {
  columns: Verdict[];
  evaluated: number;
  drifted: number;
  share: number;
  driftShare: number;
  drift: boolean;
  refRows: number;
  curRows: number;
}

export interface Ops {
  requests: number;
  errors: number;
  errorRate: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export type RuleKind = 'drift_share' | 'column_drift' | 'latency_p95' | 'error_rate' | 'realised_metric';

export interface Rule {
  id?: string;
  name: string;
  kind: RuleKind;
  columns?: string[];
  threshold: number;
  /** realised_metric rules: the metric watched */
  metric?: Metric;
  webhook?: string;
  disabled?: boolean;
}

export interface Alert {
  id: string;
  ruleId: string;
  rule: string;
  kind: RuleKind;
  monitor?: string;
  reportId: string;
  time: string;
  message: string;
  value: number;
  threshold: number;
  delivery?: string;
}

export interface Report {
  id: string;
  monitor?: string;
  title: string;
  source: string;
  window: string;
  created: string;
  rows: number;
  drift: DriftResult;
  ops?: Ops;
  alerts?: Alert[];
  performance?: Performance;
}

export interface ReportSummary {
  id: string;
  monitor?: string;
  title: string;
  created: string;
  drift: boolean;
  drifted: number;
  evaluated: number;
  share: number;
  alerts: number;
}

export interface Window {
  lastN?: number;
  /** nanoseconds */
  last?: number;
}

export interface Monitor {
  id?: string;
  name: string;
  kind: 'deployment' | 'versions';
  deployment?: string;
  refVersion?: string;
  curVersion?: string;
  profileId?: string;
  window: Window;
  /** nanoseconds; 0 = run on demand */
  every?: number;
  rules?: Rule[];
  created?: string;
  lastRun?: string;
  lastReport?: string;
}

export const listMonitors = () => call<Monitor[]>('Monitoring.Monitors');
export const createMonitor = (m: Monitor) => call<Monitor>('Monitoring.CreateMonitor', m);
export const deleteMonitor = (id: string) => call<boolean>('Monitoring.DeleteMonitor', id);
export const setRules = (id: string, rules: Rule[]) => call<Monitor>('Monitoring.SetRules', id, rules);
export const runMonitor = (id: string) => call<Report>('Monitoring.Run', id);
export const listReports = (limit = 50) => call<ReportSummary[]>('Monitoring.Reports', limit);
export const getReport = (id: string) => call<Report>('Monitoring.Report', id);
export const reportHTML = (id: string) => call<string>('Monitoring.ReportHTML', id);
export const columnChart = (reportId: string, column: string) => call<string>('Monitoring.Chart', reportId, column);
export const compareFiles = (refPath: string, curPath: string) => call<Report>('Monitoring.CompareFiles', refPath, curPath);
export const listAlerts = (limit = 50) => call<Alert[]>('Monitoring.Alerts', limit);

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

export interface PerfWindow {
  from: string;
  to: string;
  n: number;
  metrics: Partial<Record<Metric, number>>;
}

export interface Performance {
  deployment: string;
  task: 'classification' | 'regression' | '';
  positive?: string;
  labels: number;
  matched: number;
  unmatched: number;
  unusable: number;
  /** nanoseconds */
  window: number;
  windows: PerfWindow[];
  overall: PerfWindow;
  notes?: string[];
  updated: string;
}

export interface LabelResult {
  added: number;
  performance: Performance | null;
  reportId?: string;
  alerts?: Alert[];
  runError?: string;
}

export const getPerformance = (monitorId: string) => call<Performance>('Monitoring.Performance', monitorId);
export const performanceChart = (monitorId: string, metric = '') =>
  call<string>('Monitoring.PerformanceChart', monitorId, metric);

/** Desktop: a label file by its path on this machine. */
export const labelsFromFile = (monitorId: string, path: string, task = '', window = '') =>
  call<LabelResult>('Monitoring.LabelsFromFile', monitorId, path, task, window);

/** Browser: upload a dropped or chosen label file to the raw route. */
export function uploadLabels(monitorId: string, file: Blob, window = ''): Promise<LabelResult> {
  const q = window ? `?window=${encodeURIComponent(window)}` : '';
  return upload<LabelResult>(`/api/monitor/monitors/${encodeURIComponent(monitorId)}/labels${q}`, file, { method: 'POST' });
}

/** The metrics a performance has, in display order. */
export function presentMetrics(p: Performance): Metric[] {
  return metricOrder.filter((m) => p.overall?.metrics?.[m] !== undefined);
}

export { isDesktop };
