// Deployments, subscribed once for the whole app: the list, kept current by
// "deployment.changed", and each deployment's last batch-scoring progress.
import * as api from '../api/deployments';

export const deployments = $state({
  list: [] as api.Deployment[],
  loaded: false,
  error: '',
  /** The latest batch progress per deployment ID. */
  batches: {} as Record<string, api.BatchProgress>,
});

export async function reloadDeployments() {
  try {
    deployments.list = await api.list();
    deployments.error = '';
  } catch (e) {
    deployments.error = (e as Error).message;
  } finally {
    deployments.loaded = true;
  }
}

export function startDeployments(): () => void {
  reloadDeployments();
  const offs = [
    api.onChanged((d) => {
      const i = deployments.list.findIndex((x) => x.id === d.id);
      if (i >= 0) deployments.list[i] = d;
      else reloadDeployments();
    }),
    api.onBatch((p) => {
      deployments.batches[p.deployment] = p;
    }),
  ];
  return () => offs.forEach((off) => off());
}
