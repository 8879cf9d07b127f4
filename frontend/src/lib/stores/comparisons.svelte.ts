// Champion comparisons in progress, subscribed once for the whole app:
// the latest "evaluate.progress" per comparison ID.
import * as api from '../api/evaluate';

export const comparisons = $state({ progress: {} as Record<string, api.Progress> });

export function startComparisons(): () => void {
  return api.onProgress((p) => {
    comparisons.progress[p.id] = p;
  });
}
