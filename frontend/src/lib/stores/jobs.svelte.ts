// Training jobs, subscribed once for the whole app: the status bar counts
// the running ones, the jobs drawer lists them, a live job page draws the
// curve and log lines gathered here since the app started (so opening the
// page late still shows what arrived).
import * as api from '../api/training';
import type { Job, Series } from '../api/training';

export const jobs = $state({
  /** Every job of this session; null when this build has no training. */
  list: null as Job[] | null,
});

export interface LiveJob {
  series: Series;
  lines: string[];
}

const live = $state<Record<string, LiveJob>>({});
const LINES = 200;

/** The gathered metrics and log tail of a job (empty until something arrives). */
export const liveOf = (id: string): LiveJob => live[id] ?? { series: {}, lines: [] };

export const jobById = (id: string): Job | null => jobs.list?.find((j) => j.id === id) ?? null;

export const runningCount = (): number => jobs.list?.filter((j) => !api.isFinal(j.state)).length ?? 0;

function entry(id: string): LiveJob {
  if (!live[id]) live[id] = { series: {}, lines: [] };
  return live[id]; // the reactive proxy, not the object assigned
}

/** Puts a job's latest state in the list. */
export function upsertJob(j: Job) {
  const list = jobs.list ?? [];
  const i = list.findIndex((x) => x.id === j.id);
  jobs.list = i < 0 ? [j, ...list] : list.map((x, k) => (k === i ? j : x));
}

/** Loads a job and its log tail, for a page opened on one job. */
export async function watchJob(id: string): Promise<void> {
  const [j, lines] = await Promise.all([api.job(id), api.logs(id, LINES).catch(() => null)]);
  // A final state never goes back: an event may have beaten the fetch.
  const cur = jobById(id);
  if (!cur || !api.isFinal(cur.state)) upsertJob(j);
  const e = entry(id);
  // Lines that arrived by event meanwhile are newer than the fetched tail.
  if (lines && lines.length >= e.lines.length) e.lines = lines;
}

export function startJobs(): () => void {
  api.jobs().then(
    (js) => {
      jobs.list = js ?? [];
    },
    () => {
      jobs.list = null;
    },
  );
  const offs = [
    api.onJob(upsertJob),
    api.onMetrics((m) => {
      const e = entry(m.jobId);
      e.series = api.addPoints(e.series, m.points);
    }),
    api.onLog((l) => {
      const e = entry(l.jobId);
      e.lines = [...e.lines, ...l.lines].slice(-LINES);
    }),
  ];
  return () => offs.forEach((off) => off());
}
