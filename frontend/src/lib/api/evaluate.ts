// Champion vs candidate on the same held-out rows (backend/evaluate).
import { call, on, type Result } from './transport';

export type Report = Result<'Evaluation.Compare'>;
export type Metric = Report['metrics'][number];
export interface Progress {
  id: string;
  done: number;
  total: number;
}

export const compare = (id: string, model: string, candidate: number, opts: { replicates?: number; confidence?: number } = {}) =>
  call('Evaluation.Compare', id, { model, candidate: String(candidate), options: opts });
export const cancel = (id: string) => call('Evaluation.Cancel', id);
export const onProgress = (cb: (p: Progress) => void) => on('evaluate.progress', (d) => cb(d as Progress));

/** Words for a metric's metric name as the app shows it. */
export function metricLabel(name: string): string {
  return ({ roc_auc: 'AUC', accuracy: 'Accuracy', log_loss: 'Log loss', f1: 'F1', rmse: 'RMSE', mae: 'MAE', r2: 'R²' } as Record<string, string>)[name] ?? name;
}

/**
 * What the interval says: "better" or "worse" when the whole interval of
 * candidate − champion lies on one side of zero (in the metric's good
 * direction), "unclear" when it straddles zero.
 */
export function outcome(m: Metric): 'better' | 'worse' | 'unclear' | 'unknown' {
  const { low, high, replicates } = m.interval;
  if (!replicates) return 'unknown';
  const up = m.higherIsBetter ? 1 : -1;
  if (low > 0) return up > 0 ? 'better' : 'worse';
  if (high < 0) return up > 0 ? 'worse' : 'better';
  return 'unclear';
}
