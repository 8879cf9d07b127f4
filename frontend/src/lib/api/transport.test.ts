import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, call as typedCall, isDesktop } from './transport';

// These tests exercise the transport, not the method list: any name goes.
const call = typedCall as unknown as (name: string, ...args: unknown[]) => Promise<unknown>;

afterEach(() => {
  delete window.go;
  vi.unstubAllGlobals();
});

describe('call in browser mode', () => {
  it('posts the arguments as a JSON array to the method route', async () => {
    const fetch = vi.fn(async () => new Response('{"ok":true}', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    await expect(call('System.Status', 1, 'a')).resolves.toEqual({ ok: true });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/call/System.Status');
    expect(init.method).toBe('POST');
    expect(init.body).toBe('[1,"a"]');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('turns a worded backend error into an ApiError with its code', async () => {
    vi.stubGlobal('fetch', async () => new Response('{"code":"not_found","message":"No dataset iris."}', { status: 404 }));
    const err = (await call('Datasets.Get', 'iris').catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('not_found');
    expect(err.message).toBe('No dataset iris.');
  });

  it('says the session ended on 401', async () => {
    vi.stubGlobal('fetch', async () => new Response('{"code":"unauthenticated","message":"x"}', { status: 401 }));
    await expect(call('System.Status')).rejects.toMatchObject({ code: 'unauthenticated', message: /session ended/ });
  });

  it('says Tern is not answering when the network fails', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(call('System.Status')).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('rejects a non-JSON answer in words', async () => {
    vi.stubGlobal('fetch', async () => new Response('<html>', { status: 502 }));
    await expect(call('System.Status')).rejects.toThrow(/not JSON/);
  });
});

describe('call in the desktop window', () => {
  it('uses the Wails binding and never fetch', async () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    const status = vi.fn(async (...a: unknown[]) => ({ args: a }));
    window.go = { app: { System: { Status: status } } };
    expect(isDesktop()).toBe(true);
    await expect(call('System.Status', 7)).resolves.toEqual({ args: [7] });
    expect(fetch).not.toHaveBeenCalled();
  });

  it('maps the ErrorFormatter object (or its JSON string) to ApiError', async () => {
    window.go = {
      app: {
        A: {
          Obj: async () => Promise.reject({ code: 'conflict', message: 'Alias moved.' }),
          Str: async () => Promise.reject('{"code":"invalid","message":"Bad."}'),
        },
      },
    };
    await expect(call('A.Obj')).rejects.toMatchObject({ code: 'conflict', message: 'Alias moved.' });
    await expect(call('A.Str')).rejects.toMatchObject({ code: 'invalid', message: 'Bad.' });
    await expect(call('A.Missing')).rejects.toThrow(/not available/);
  });
});
