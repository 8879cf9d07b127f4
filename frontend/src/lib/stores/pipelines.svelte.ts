// Pipelines, subscribed once for the whole app: the list (reloaded when a
// pipeline is saved or deleted, or a run changes state), the recent runs
// across pipelines, and every run and step record the engine announced
// since the app started, so a run page colours its DAG as steps move.
import * as api from '../api/pipelines';
import type { Run, StepRecord, Summary } from '../api/pipelines';

export const pipelines = $state({
  list: [] as Summary[],
  recent: [] as Run[],
  loaded: false,
  error: '',
  /** Runs by ID, as last announced. */
  runs: {} as Record<string, Run>,
  /** Step records by run ID, then step ID, as last announced. */
  steps: {} as Record<string, Record<string, StepRecord>>,
});

let pending: ReturnType<typeof setTimeout> | null = null;

export async function reloadPipelines() {
  try {
    const [list, recent] = await Promise.all([api.list(), api.runs('', 30)]);
    pipelines.list = list;
    pipelines.recent = recent;
    pipelines.error = '';
  } catch (e) {
    pipelines.error = (e as Error).message;
  } finally {
    pipelines.loaded = true;
  }
}

// A run's every state change reloads the list's "last run" column; a
// burst of them (a cached re-run ends ten steps in milliseconds) is one reload.
function reloadSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    reloadPipelines();
  }, 250);
}

/** Records a run (from an event or a read). */
export function putRun(r: Run) {
  pipelines.runs[r.id] = r;
}

/** Records step records (from an event or a read). */
export function putSteps(recs: StepRecord[]) {
  for (const s of recs) {
    const m = (pipelines.steps[s.runId] ??= {});
    m[s.step] = s;
  }
}

export function startPipelines(): () => void {
  reloadPipelines();
  const offs = [
    api.onChanged(() => reloadSoon()),
    api.onRun((r) => {
      const before = pipelines.runs[r.id]?.state;
      putRun(r);
      if (before !== r.state) reloadSoon();
    }),
    api.onStep((s) => putSteps([s])),
  ];
  return () => {
    offs.forEach((off) => off());
    if (pending) clearTimeout(pending);
  };
}
