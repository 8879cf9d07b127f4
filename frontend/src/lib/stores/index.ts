// App-wide state, each backed by one subscription to the backend's events:
// App.svelte starts them once, components read the stores instead of
// subscribing themselves.
import { startAlerts } from './alerts.svelte';
import { startComparisons } from './comparisons.svelte';
import { startDatasets } from './datasets.svelte';
import { startDeployments } from './deployments.svelte';
import { startDrops } from './drops.svelte';
import { startImports } from './imports.svelte';
import { startJobs } from './jobs.svelte';
import { startPipelines } from './pipelines.svelte';
import { startRuns } from './runs.svelte';
import { startSweeps } from './sweeps.svelte';

/** Starts every store; returns the function that stops them. */
export function startStores(): () => void {
  const stops = [startImports(), startDatasets(), startDrops(), startJobs(), startAlerts(), startDeployments(), startRuns(), startComparisons(), startSweeps(), startPipelines()];
  return () => stops.forEach((stop) => stop());
}
