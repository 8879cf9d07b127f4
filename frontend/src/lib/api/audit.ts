// The audit trail (backend/audit): every change to Tern's state, who made
// it through which face, hash-chained; listed, verified and exported here.
import { call, type Args, type Result } from './transport';
import type { AuditObject, AuditRecord, Face } from './bindings.gen';

export type { AuditObject, AuditRecord, Face };
export type Query = Args<'Audit.List'>[0];
export type Verdict = Result<'Audit.Verify'>;

export const list = (q: Query) => call('Audit.List', q);
export const verify = () => call('Audit.Verify');
export const exportTo = (q: Query, dest: string) => call('Audit.Export', q, dest);

const faces: Record<Face, string> = {
  window: 'Desktop window',
  browser: 'Browser',
  mlflow: 'MLflow client',
  job: 'Training job',
  pipeline: 'Pipeline',
  tern: 'Tern',
};

/** Who made a change, in words: "Training job · run 3f…" → the face, and which one. */
export function faceLabel(r: Pick<AuditRecord, 'face' | 'who'>): string {
  const f = faces[r.face] ?? r.face;
  return r.who ? `${f} · ${r.who}` : f;
}

/** What a person reads for an object: its name, else its kind and id. */
export function objectLabel(o: AuditObject): string {
  return o.name || `${o.kind.replace(/_/g, ' ')} ${o.id}`;
}

/** Where an object's page is, or null when it has none to open. */
export type Target =
  | { area: 'run'; id: string }
  | { area: 'model'; name: string }
  | { area: 'deployment'; id: string }
  | { area: 'report'; id: string }
  | { area: 'dataset'; id: string }
  | { area: 'dataset_version'; id: string }
  | { area: 'monitoring' }
  | { area: 'experiments' };

export function target(o: AuditObject): Target | null {
  switch (o.kind) {
    case 'run':
      return { area: 'run', id: o.id };
    case 'model':
      return { area: 'model', name: o.id };
    case 'model_version':
      return { area: 'model', name: o.id.slice(0, o.id.lastIndexOf('/')) };
    case 'deployment':
      return { area: 'deployment', id: o.id };
    case 'report':
      return { area: 'report', id: o.id };
    case 'dataset':
      return { area: 'dataset', id: o.id };
    case 'dataset_version':
      return { area: 'dataset_version', id: o.id };
    case 'monitor':
      return { area: 'monitoring' };
    case 'experiment':
      return { area: 'experiments' };
  }
  return null;
}

/** The change in one line: "before → after", or whichever side there is. */
export function change(r: Pick<AuditRecord, 'before' | 'after'>): string {
  if (r.before && r.after) return `${r.before} → ${r.after}`;
  return r.after || (r.before ? `was ${r.before}` : '');
}

/** The kinds of action the filter offers (each matches "<kind>.*"). */
export const actionKinds = [
  'dataset',
  'dataset_version',
  'experiment',
  'run',
  'model',
  'model_version',
  'logged_model',
  'deployment',
  'monitor',
  'report',
  'labels',
  'sweep',
  'job',
  'view',
  'trash',
  'token',
];

/** A datetime-local value ("2026-12-04T10:30") as the RFC 3339 the backend reads; '' stays unset. */
export function fromLocal(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return isNaN(d.getTime()) ? undefined : d.toISOString();
}
