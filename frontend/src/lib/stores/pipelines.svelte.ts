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

// A read answers with what was stored when it was served; an event heard
// while it was on its way is newer (a run page opened mid-run saw a step
// "running" over its later "succeeded"). So each event ticks a clock, a
// read remembers the tick it started at, and a record an event touched
// since then is not overwritten by the read.
let clock = 0;
const heard = new Map<string, number>();
const hear = (key: string) => heard.set(key, ++clock);
const stale = (key: string, since?: number) => since !== undefined && (heard.get(key) ?? 0) > since;

/** The tick to pass to putRun/putSteps for a read started now. */
export const readMark = () => clock;

/** Records a run: from an event, or from a read started at tick `since`. */
export function putRun(r: Run, since?: number) {
  if (since === undefined) hear(r.id);
  else if (stale(r.id, since)) return;
  pipelines.runs[r.id] = r;
}

/** Records step records: from an event, or from a read started at tick `since`. */
export function putSteps(recs: StepRecord[], since?: number) {
  for (const s of recs) {
    const key = `${s.runId}/${s.step}`;
    if (since === undefined) hear(key);
    else if (stale(key, since)) continue;
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
