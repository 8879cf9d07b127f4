// Tracking runs, subscribed once for the whole app. Runs change far too
// often to hold here (metrics stream in), so the store only counts changes,
// debounced, and the views reload what they show when a count moves.
import { onRunsChanged } from '../api/experiments';

const RUN_TOPICS = ['tracking.run.created', 'tracking.run.status', 'tracking.run.metrics', 'tracking.run.stage', 'tracking.run.deleted'];

export const runs = $state({
  /** Any run changed (1 s debounce): the runs table's rows. */
  rows: 0,
  /** Any run changed (2 s debounce): an open run's page. */
  detail: 0,
  /** Runs came, went or changed status, or an experiment was made (2 s): the lists of experiments and columns. */
  sets: 0,
});

export function startRuns(): () => void {
  const offs = [
    onRunsChanged(() => runs.rows++, 1000, RUN_TOPICS),
    onRunsChanged(() => runs.detail++, 2000, RUN_TOPICS),
    onRunsChanged(() => runs.sets++, 2000, ['tracking.run.created', 'tracking.run.status', 'tracking.run.stage', 'tracking.run.deleted', 'tracking.experiment.created']),
  ];
  return () => offs.forEach((off) => off());
}

/** Calls cb each time counter() moves (not for the value it has now); use inside a component. */
export function onMove(counter: () => number, cb: () => void) {
  let seen = counter();
  $effect(() => {
    const n = counter();
    if (n !== seen) {
      seen = n;
      cb();
    }
  });
}
