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
export function lineageSteps(l: Lineage): { kind: string; label: string; href?: string }[] {
  const steps: { kind: string; label: string; href?: string }[] = [];
  if (l.datasetVersion) steps.push({ kind: 'dataset', label: l.datasetVersion, href: '#/datasets' });
  if (l.runId) steps.push({ kind: 'run', label: l.runId.slice(0, 10), href: `#/experiments/run/${encodeURIComponent(l.runId)}` });
  steps.push({ kind: 'model', label: `${l.model} v${l.version}` });
  for (const d of l.deployments) steps.push({ kind: 'deployment', label: d, href: '#/deployments' });
  return steps;
}

/** Metric keys shared by versions, sorted, for the versions table. */
export function metricColumns(versions: Version[]): string[] {
  const keys = new Set<string>();
  for (const v of versions) for (const k of Object.keys(v.metrics ?? {})) keys.add(k);
  return [...keys].sort().slice(0, 6);
}
