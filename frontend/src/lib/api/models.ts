// Model registry: models, versions, aliases, lineage, registration.
import { call } from './transport';

export interface Column {
  name: string;
  type: string;
  optional?: boolean;
}

export interface Signature {
  inputs: Column[];
  outputs?: Column[];
}

export interface Model {
  name: string;
  description?: string;
  created: number;
  updated: number;
  latestVersion: number;
  aliases: Record<string, number>;
}

export interface Version {
  model: string;
  version: number;
  created: number;
  source: string;
  runId?: string;
  experimentId?: string;
  datasetVersion?: string;
  flavor: string;
  signature: Signature;
  inputExample?: unknown;
  metrics?: Record<string, number>;
  params?: Record<string, string>;
  description?: string;
  aliases?: string[];
}

export interface ModelDetail {
  model: Model;
  versions: Version[];
}

export interface Lineage {
  datasetVersion?: string;
  runId?: string;
  experimentId?: string;
  model: string;
  version: number;
  deployments: string[];
}

export const list = () => call<Model[]>('Models.List');
export const get = (name: string) => call<ModelDetail>('Models.Get', name);
export const registerRun = (name: string, runId: string, artifactPath = '') =>
  call<Version>('Models.RegisterRun', name, runId, artifactPath);
export const importPath = (name: string, path: string) => call<Version>('Models.ImportPath', name, path);
export const setAlias = (name: string, alias: string, version: number) =>
  call<Model>('Models.SetAlias', name, alias, version);
export const promote = (name: string) => call<Model>('Models.Promote', name);
export const lineage = (name: string, version: number) => call<Lineage>('Models.Lineage', name, version);
export const exportDir = (name: string, version: number, dest: string) =>
  call<void>('Models.Export', name, version, dest);

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
