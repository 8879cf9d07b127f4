// Datasets, subscribed once for the whole app: the list and the trash,
// reloaded when the backend says a dataset changed. `imported` counts
// finished imports, so an open dataset page knows to fetch its versions
// again (a new version of the same dataset lands on the same page).
import * as api from '../api/datasets';

export const datasets = $state({
  list: [] as api.Summary[],
  trash: null as api.TrashInfo | null,
  loaded: false,
  error: '',
  imported: 0,
});

export async function reloadDatasets() {
  try {
    const [list, trash] = await Promise.all([api.list(), api.trash()]);
    datasets.list = list;
    datasets.trash = trash;
    datasets.error = '';
  } catch (e) {
    datasets.error = (e as Error).message;
  }
  datasets.loaded = true;
}

export function startDatasets(): () => void {
  reloadDatasets();
  return api.onChanged(() => reloadDatasets());
}
