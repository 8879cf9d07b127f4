// Sweeps: many trials of one Train request, searched by a sampler.
import { call, on, type Args, type Loose, type Result } from './transport';

export type Sweep = Result<'Sweeps.List'>[number];
export type SweepDetail = Result<'Sweeps.Get'>;
export type Trial = Sweep['trials'][number];
export type SweepForm = Result<'Sweeps.Form'>;
export type SearchParam = SweepForm['space'][number];
export type SweepSpec = Loose<Args<'Sweeps.Start'>[0]>;

export const form = (model: string) => call('Sweeps.Form', model);
export const start = (spec: SweepSpec) => call('Sweeps.Start', spec);
export const list = () => call('Sweeps.List');
export const get = (id: string) => call('Sweeps.Get', id);
export const cancel = (id: string) => call('Sweeps.Cancel', id);
export const registerBest = (id: string, model: string) => call('Sweeps.RegisterBest', id, model);
export const onSweep = (cb: (s: Sweep) => void) => on('sweep.update', cb);

/** Objectives a built-in model's runs log, with their direction. */
export const objectives: { key: string; label: string; maximize: boolean }[] = [
  { key: 'test_roc_auc', label: 'ROC AUC (higher)', maximize: true },
  { key: 'test_accuracy', label: 'Accuracy (higher)', maximize: true },
  { key: 'test_f1', label: 'F1 (higher)', maximize: true },
  { key: 'test_log_loss', label: 'Log loss (lower)', maximize: false },
  { key: 'test_rmse', label: 'RMSE (lower)', maximize: false },
  { key: 'test_mae', label: 'MAE (lower)', maximize: false },
  { key: 'test_r2', label: 'R² (higher)', maximize: true },
];

/** Checks the editable space; a message per parameter name. */
export function validateSpace(space: SearchParam[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const p of space) {
    if (p.kind === 'categorical') {
      if (!p.choices?.length) errors[p.name] = 'Tick at least one choice.';
      continue;
    }
    const lo = Number(p.low ?? 0);
    const hi = Number(p.high ?? 0);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) errors[p.name] = 'Enter numbers.';
    else if (lo > hi) errors[p.name] = 'Low is above high.';
    else if (p.log && lo <= 0) errors[p.name] = 'A log scale starts above 0.';
    else if (p.kind === 'int' && (!Number.isInteger(lo) || !Number.isInteger(hi))) errors[p.name] = 'Whole numbers.';
  }
  return errors;
}

/** Counts of trials by state, and how many have ended. */
export function progress(s: Pick<Sweep, 'trials' | 'budget'>) {
  const by: Record<string, number> = {};
  for (const t of s.trials) by[t.state] = (by[t.state] ?? 0) + 1;
  const ended = (by.complete ?? 0) + (by.pruned ?? 0) + (by.failed ?? 0) + (by.cancelled ?? 0);
  return { by, ended, budget: s.budget };
}

/** A short axis label: the name cut to n characters with an ellipsis. */
export function abbreviate(name: string, n = 12): string {
  return name.length <= n ? name : name.slice(0, n - 1) + '…';
}
