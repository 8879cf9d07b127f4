// Sweeps, subscribed once for the whole app: each update event replaces
// the sweep it carries, so a sweep page shows trials as they arrive.
import * as api from '../api/sweeps';
import type { Sweep } from '../api/sweeps';

const byId = $state<Record<string, Sweep>>({});

/** The latest state of a sweep seen since the app started, or null. */
export const sweepById = (id: string): Sweep | null => byId[id] ?? null;

/** Records a sweep (from an event or a read). */
export function putSweep(s: Sweep) {
  byId[s.id] = s;
}

export function startSweeps(): () => void {
  return api.onSweep(putSweep);
}
