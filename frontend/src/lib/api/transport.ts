// The only code that talks to the backend. In the desktop window Wails
// injects window.go (bound methods) and window.runtime (events); in browser
// mode the same methods answer at POST /api/call/<Struct>.<Method> and
// events arrive as server-sent events. Callers never know which.

import type { Methods } from './bindings.gen';

type Bound = (...args: unknown[]) => Promise<unknown>;

/** A bound method's name, "Struct.Method" (bindings.gen.ts lists them, from the Go types). */
export type Method = keyof Methods;
/** What a bound method takes. */
export type Args<M extends Method> = Parameters<Methods[M]>;
/**
 * Go decodes a missing JSON field as its zero value, so a call may leave
 * out any field of an argument (every argument itself stays required).
 */
export type Loose<T> = T extends (infer E)[] ? Loose<E>[] : T extends object ? { [K in keyof T]?: Loose<T[K]> } : T;
type LooseArgs<A extends unknown[]> = { [K in keyof A]: Loose<A[K]> };
/** What a bound method resolves to, as its Go result type serialises. */
export type Result<M extends Method> = ReturnType<Methods[M]>;

declare global {
  interface Window {
    go?: { app?: Record<string, Record<string, Bound>> };
    runtime?: { EventsOn(name: string, cb: (...data: unknown[]) => void): () => void };
  }
}

/** An error worded by Tern: `code` is what to act on, `message` what to show. */
export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isDesktop = (): boolean => typeof window !== 'undefined' && !!window.go?.app;

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (typeof e === 'string') {
    try {
      return toApiError(JSON.parse(e));
    } catch {
      return new ApiError('internal', e);
    }
  }
  if (e && typeof e === 'object' && 'message' in e) {
    const o = e as { code?: string; message: string };
    return new ApiError(o.code ?? 'internal', String(o.message));
  }
  return new ApiError('internal', 'Something went wrong inside Tern.');
}

/** Calls a bound method by "Struct.Method", typed by its Go signature. */
export async function call<M extends Method>(name: M, ...args: LooseArgs<Args<M>>): Promise<Result<M>> {
  return callUntyped<Result<M>>(name, ...(args as unknown[]));
}

async function callUntyped<T>(name: string, ...args: unknown[]): Promise<T> {
  const [struct, method] = name.split('.');
  if (isDesktop()) {
    const fn = window.go!.app![struct]?.[method];
    if (!fn) throw new ApiError('internal', `${name} is not available in this build of Tern.`);
    try {
      return (await fn(...args)) as T;
    } catch (e) {
      throw toApiError(e);
    }
  }
  let res: Response;
  try {
    res = await fetch(`/api/call/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(args),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError('unavailable', 'Tern is not answering. Is `tern serve` still running?');
  }
  return readResponse<T>(res);
}

async function readResponse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError('internal', `Tern answered ${res.status} with something that is not JSON.`);
  }
  if (!res.ok) {
    if (res.status === 401) throw new ApiError('unauthenticated', 'Your session ended. Open the address `tern serve` printed.');
    throw toApiError(body ?? { code: 'internal', message: `Tern answered ${res.status}.` });
  }
  return body as T;
}

export type Progress = { loaded: number; total: number };

/**
 * Sends a file's bytes to a raw route (browser mode), reporting progress
 * and honouring an AbortSignal. Resolves with the route's JSON answer.
 */
export function upload<T>(
  url: string,
  body: Blob,
  opts: { method?: string; onProgress?: (p: Progress) => void; signal?: AbortSignal } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(opts.method ?? 'PUT', url);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Content-Type', body.type || 'application/octet-stream');
    xhr.upload.onprogress = (e) => opts.onProgress?.({ loaded: e.loaded, total: e.lengthComputable ? e.total : body.size });
    xhr.onerror = () => reject(new ApiError('unavailable', 'The upload did not reach Tern.'));
    xhr.onabort = () => reject(new ApiError('cancelled', 'Upload cancelled.'));
    xhr.onload = () => {
      const res = new Response(xhr.responseText, { status: xhr.status });
      readResponse<T>(res).then(resolve, reject);
    };
    opts.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

type Listener = (data: any) => void;
const listeners = new Map<string, Set<Listener>>();
let source: EventSource | null = null;

function ensureSource() {
  if (source) return;
  source = new EventSource('/api/events', { withCredentials: true });
  source.onmessage = (m) => {
    let ev: { topic: string; data: unknown };
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    listeners.get(ev.topic)?.forEach((cb) => cb(ev.data));
  };
}

/** Subscribes to a backend event topic; returns the unsubscribe function. */
export function on(topic: string, cb: Listener): () => void {
  if (isDesktop() && window.runtime) {
    return window.runtime.EventsOn(topic, (data: unknown) => cb(data));
  }
  if (typeof EventSource === 'undefined') return () => {};
  ensureSource();
  let set = listeners.get(topic);
  if (!set) listeners.set(topic, (set = new Set()));
  set.add(cb);
  return () => {
    set!.delete(cb);
  };
}
