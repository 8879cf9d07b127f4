// Model registry: models, versions, aliases, lineage, registration.
import { call, type Result } from './transport';

// Shapes generated from the Go types (bindings.gen.ts), named by method.
export type ModelDetail = Result<'Models.Get'>;
export type Model = ModelDetail['model'];
export type Version = ModelDetail['versions'][number];
export type Signature = Version['signature'];
export type Column = Signature['inputs'][number];
export type Lineage = Result<'Models.Lineage'>;

export const list = () => call('Models.List');
export const get = (name: string) => call('Models.Get', name);
export const registerRun = (name: string, runId: string, artifactPath = '') =>
  call('Models.RegisterRun', name, runId, artifactPath);
export const importPath = (name: string, path: string) => call('Models.ImportPath', name, path);
export const setAlias = (name: string, alias: string, version: number) =>
  call('Models.SetAlias', name, alias, version);
export const promote = (name: string) => call('Models.Promote', name);
export const lineage = (name: string, version: number) => call('Models.Lineage', name, version);
export const exportDir = (name: string, version: number, dest: string) =>
  call('Models.Export', name, version, dest);

/** The lineage as the chain the model page draws, left to right. */
/** What a lineage's IDs are called, looked up by the page (UI.md: names, never raw IDs). */
export interface LineageNames {
  /** The dataset version as "churn v1", and its dataset's id for the link. */
  dataset?: { label: string; datasetId: string };
  run?: string;
  /** Deployment name → id, for links. */
  deployments?: Record<string, string>;
}

export function lineageSteps(l: Lineage, names: LineageNames = {}): { kind: string; label: string; href?: string }[] {
  const steps: { kind: string; label: string; href?: string }[] = [];
  const enc = encodeURIComponent;
  if (l.datasetVersion) {
    const d = names.dataset;
    // Until the name arrives, a neutral word rather than a 26-character ID.
    steps.push(d ? { kind: 'dataset', label: d.label, href: `#/datasets/${enc(d.datasetId)}/${enc(l.datasetVersion)}` } : { kind: 'dataset', label: 'dataset version', href: '#/datasets' });
  }
  if (l.runId) steps.push({ kind: 'run', label: names.run ?? 'run', href: `#/experiments/run/${enc(l.runId)}` });
  steps.push({ kind: 'model', label: `${l.model} v${l.version}` });
  for (const d of l.deployments) {
    const id = names.deployments?.[d];
    steps.push({ kind: 'deployment', label: d, href: id ? `#/deployments/${enc(id)}` : '#/deployments' });
  }
  return steps;
}

/** Metric keys shared by versions, sorted, for the versions table. */
export function metricColumns(versions: Version[]): string[] {
  const keys = new Set<string>();
  for (const v of versions) for (const k of Object.keys(v.metrics ?? {})) keys.add(k);
  return [...keys].sort().slice(0, 6);
}

/** Archive (true) or bring back a model or one version; refused while a deployment uses it. */
export const archiveModel = (name: string, archived: boolean) => call('Models.Archive', name, archived);
export const archiveVersion = (name: string, version: number, archived: boolean) =>
  call('Models.ArchiveVersion', name, version, archived);
/** Delete for good; refused, in words naming the deployment, while one uses it. */
export const deleteModel = (name: string) => call('Models.Delete', name);
export const deleteVersion = (name: string, version: number) => call('Models.DeleteVersion', name, version);
