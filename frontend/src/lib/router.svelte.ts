// Hash routing: "#/experiments/abc" → area "experiments", rest ["abc"].
// The hash keeps deep links working in both faces without server routes.

export type AreaId = 'datasets' | 'experiments' | 'models' | 'deployments' | 'monitoring' | 'pipelines' | 'settings';

export interface Area {
  id: AreaId;
  label: string;
  icon: string;
  /** Alt+digit jumps here. */
  key: string;
}

export const areas: Area[] = [
  { id: 'datasets', label: 'Datasets', icon: 'database', key: '1' },
  { id: 'experiments', label: 'Experiments', icon: 'flask', key: '2' },
  { id: 'models', label: 'Models', icon: 'box', key: '3' },
  { id: 'deployments', label: 'Deployments', icon: 'rocket', key: '4' },
  { id: 'monitoring', label: 'Monitoring', icon: 'activity', key: '5' },
  { id: 'pipelines', label: 'Pipelines', icon: 'workflow', key: '6' },
  { id: 'settings', label: 'Settings', icon: 'settings', key: '7' },
];

export function parse(hash: string): { area: AreaId; rest: string[] } {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const area = areas.find((a) => a.id === parts[0])?.id ?? 'datasets';
  return { area, rest: area === parts[0] ? parts.slice(1) : [] };
}

export const route = $state(parse(typeof location === 'undefined' ? '' : location.hash));

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => Object.assign(route, parse(location.hash)));
}

export function navigate(area: AreaId, ...rest: string[]) {
  location.hash = '/' + [area, ...rest].map(encodeURIComponent).join('/');
}

/**
 * The object pages, by kind: one place that knows each area's deep-link
 * shape, so a link to a run or a model cannot drift from the page that
 * reads it.
 */
export const open = {
  dataset: (datasetId: string, versionId?: string) => (versionId ? navigate('datasets', datasetId, versionId) : navigate('datasets', datasetId)),
  run: (runId: string) => navigate('experiments', 'run', runId),
  compare: (runIds: string[]) => navigate('experiments', 'compare', runIds.join(',')),
  sweep: (id: string) => navigate('experiments', 'sweep', id),
  model: (name: string, version?: number | string) => (version != null && version !== '' ? navigate('models', name, String(version)) : navigate('models', name)),
  deployment: (id: string) => navigate('deployments', id),
  report: (id: string) => navigate('monitoring', 'report', id),
  pipeline: (id: string) => navigate('pipelines', id),
  pipelineRun: (runId: string) => navigate('pipelines', 'run', runId),
};
