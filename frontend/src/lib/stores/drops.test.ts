import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Version } from '../api/datasets';

// A file dropped anywhere is uploaded like a Datasets drop and the app
// lands on the new version; a drop a view already handled is left alone.
const navigate = vi.fn();
vi.mock('../router.svelte', () => ({ navigate, route: { area: 'models', rest: [] } }));
let dropped: ((paths: string[]) => void) | undefined;
const version = { id: 'v1', datasetId: 'ds1', rows: 3, size: 10 } as Version;
vi.mock('../api/datasets', async (orig) => ({
  ...(await orig<typeof import('../api/datasets')>()),
  uploadFile: vi.fn(async () => version),
  importPath: vi.fn(async () => ({ ...version, id: 'v2' })),
  isDesktop: () => false,
  onFilesDropped: (cb: (paths: string[]) => void) => ((dropped = cb), () => (dropped = undefined)),
  list: vi.fn(async () => []),
  trash: vi.fn(async () => ({ datasets: [], versions: [], freesBytes: 0, kept: [] })),
}));

const api = await import('../api/datasets');
const { startDrops, drops } = await import('./drops.svelte');
const { imports } = await import('./imports.svelte');

function dropEvent(type: string, files: File[]): Event {
  const e = new Event(type, { bubbles: true, cancelable: true });
  Object.defineProperty(e, 'dataTransfer', { value: { types: ['Files'], files } });
  return e;
}

describe('drops store', () => {
  let stop: () => void = () => {};
  afterEach(() => {
    stop();
    navigate.mockClear();
    vi.mocked(api.uploadFile).mockClear();
  });

  it('imports a file dropped on any area and lands on its version', async () => {
    stop = startDrops();
    document.body.dispatchEvent(dropEvent('dragenter', []));
    expect(drops.dragging).toBe(true);
    const drop = dropEvent('drop', [new File(['a,b\n1,2\n'], 'flowers.csv')]);
    document.body.dispatchEvent(drop);
    expect(drop.defaultPrevented).toBe(true);
    expect(drops.dragging).toBe(false);
    await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('datasets', 'ds1', 'v1'));
    expect(api.uploadFile).toHaveBeenCalledOnce();
    expect(imports[0]).toMatchObject({ name: 'flowers.csv', phase: 'done', versionId: 'v1' });
  });

  it('leaves a drop that a view handled', async () => {
    stop = startDrops();
    const handled = dropEvent('drop', [new File(['x'], 'scores.csv')]);
    handled.preventDefault();
    document.body.dispatchEvent(handled);
    await new Promise((r) => setTimeout(r, 10));
    expect(api.uploadFile).not.toHaveBeenCalled();
  });

  it('imports the paths the desktop window gives', async () => {
    stop = startDrops();
    dropped!(['/home/me/data/iris.csv']);
    await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('datasets', 'ds1', 'v2'));
    expect(api.importPath).toHaveBeenCalledWith('/home/me/data/iris.csv', expect.objectContaining({ importId: expect.any(String) }));
  });
});
