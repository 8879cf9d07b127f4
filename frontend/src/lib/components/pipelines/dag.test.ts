import { describe, expect, it } from 'vitest';
import { compatible, edgesOf, freshId, layersOf, layout, parseRef, removeStep, renameStep, sourcesFor, wouldCycle, type StepLike, type TypeLike } from './dag';
import { errorLine, hunks, lineDiff } from './diff';

const types: Record<string, TypeLike> = {
  'data.newest': { name: 'data.newest', inputs: [], outputs: [{ name: 'version', type: 'dataset_version' }] },
  validate: { name: 'validate', inputs: [{ name: 'version', type: 'dataset_version' }], outputs: [{ name: 'version', type: 'dataset_version' }] },
  train: { name: 'train', inputs: [{ name: 'version', type: 'dataset_version' }], outputs: [{ name: 'run', type: 'run' }] },
  register: { name: 'register', inputs: [{ name: 'run', type: 'run' }], outputs: [{ name: 'model_version', type: 'model_version' }] },
  evaluate: {
    name: 'evaluate',
    inputs: [
      { name: 'candidate', type: 'model_version' },
      { name: 'rows', type: 'dataset_version', optional: true },
    ],
    outputs: [{ name: 'report', type: 'report' }],
  },
  notify: { name: 'notify', inputs: [{ name: 'after', type: 'any', optional: true }], outputs: [] },
};

const chain = (): StepLike[] => [
  { id: 'data', type: 'data.newest', inputs: {} },
  { id: 'check', type: 'validate', inputs: { version: 'data.version' } },
  { id: 'train', type: 'train', inputs: { version: 'check.version' } },
  { id: 'register', type: 'register', inputs: { run: 'train.run' } },
  { id: 'evaluate', type: 'evaluate', inputs: { candidate: 'register.model_version', rows: 'data.version' } },
  { id: 'notify', type: 'notify', inputs: { after: 'register.model_version' } },
];

describe('edges and ports', () => {
  it('reads each wired input as an edge, and ignores wiring to a step that is not there', () => {
    const steps = [...chain(), { id: 'x', type: 'train', inputs: { version: 'ghost.version' } }];
    const es = edgesOf(steps);
    expect(es).toContainEqual({ from: 'data', output: 'version', to: 'evaluate', input: 'rows' });
    expect(es.some((e) => e.to === 'x')).toBe(false);
    expect(es).toHaveLength(6);
    expect(parseRef('a.b')).toEqual({ step: 'a', output: 'b' });
    expect(parseRef('nodot')).toBeNull();
    expect(parseRef('.x')).toBeNull();
  });
  it('lets an output feed an input of its own type, or an "any" input, and nothing else', () => {
    expect(compatible('run', 'run')).toBe(true);
    expect(compatible('model_version', 'any')).toBe(true);
    expect(compatible('run', 'model_version')).toBe(false);
    expect(compatible('any', 'run')).toBe(false);
  });
  it('offers as sources only compatible outputs that would not close a cycle', () => {
    const steps = chain();
    const srcs = sourcesFor(steps, types, 'train', types.train.inputs[0]);
    expect(srcs).toEqual(['data.version', 'check.version']);
    // Wiring x into y closes a cycle exactly when y already reaches x.
    expect(wouldCycle(steps, 'data', 'notify')).toBe(false);
    expect(wouldCycle(steps, 'notify', 'evaluate')).toBe(false);
    expect(wouldCycle(steps, 'evaluate', 'data')).toBe(true);
    expect(wouldCycle(steps, 'register', 'check')).toBe(true);
    expect(sourcesFor(steps, types, 'check', types.validate.inputs[0])).toEqual(['data.version']);
    expect(wouldCycle(steps, 'train', 'train')).toBe(true);
  });
});

describe('layered layout', () => {
  it('puts each step one layer below the deepest step it reads from', () => {
    const l = layersOf(chain());
    expect(Object.fromEntries(l)).toEqual({ data: 0, check: 1, train: 2, register: 3, evaluate: 4, notify: 4 });
  });
  it('draws every edge downwards from an output port to an input port, nodes not overlapping', () => {
    const steps = chain();
    const L = layout(steps, types);
    expect(L.nodes).toHaveLength(6);
    for (const e of L.edges) {
      expect(e.y2).toBeGreaterThan(e.y1);
      expect(e.d.startsWith(`M${e.x1},${e.y1}`)).toBe(true);
    }
    for (const a of L.nodes)
      for (const b of L.nodes) {
        if (a === b) continue;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.id} overlaps ${b.id}`).toBe(false);
      }
    for (const n of L.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.x + n.w).toBeLessThanOrEqual(L.width);
      expect(n.y + n.h).toBeLessThanOrEqual(L.height);
    }
    // evaluate's second input (rows) lands right of its first (candidate).
    const rows = L.edges.find((e) => e.input === 'rows')!;
    const cand = L.edges.find((e) => e.input === 'candidate')!;
    expect(rows.x2).toBeGreaterThan(cand.x2);
  });
  it('orders a row by its parents so two parallel branches do not cross', () => {
    const steps: StepLike[] = [
      { id: 'a', type: 'data.newest', inputs: {} },
      { id: 'b', type: 'data.newest', inputs: {} },
      // listed crosswise: the child of b first
      { id: 'tb', type: 'train', inputs: { version: 'b.version' } },
      { id: 'ta', type: 'train', inputs: { version: 'a.version' } },
    ];
    const L = layout(steps, types);
    const x = (id: string) => L.nodes.find((n) => n.id === id)!.x;
    expect(Math.sign(x('ta') - x('tb'))).toBe(Math.sign(x('a') - x('b')));
  });
  it('ends on a cycle that came from a file, and on an empty pipeline', () => {
    const cyc: StepLike[] = [
      { id: 'a', type: 'validate', inputs: { version: 'b.version' } },
      { id: 'b', type: 'validate', inputs: { version: 'a.version' } },
    ];
    const L = layout(cyc, types);
    expect(L.nodes).toHaveLength(2);
    expect(layout([], types)).toMatchObject({ nodes: [], edges: [] });
  });
});

describe('editing', () => {
  it('names a new step after its type without taking a used ID', () => {
    expect(freshId(chain(), 'train')).toBe('train2');
    expect(freshId(chain(), 'gate')).toBe('gate');
    expect(freshId([{ id: 'data_newest' }], 'data.newest')).toBe('data_newest2');
  });
  it('deleting a step unwires what read from it', () => {
    const steps = removeStep(chain(), 'register');
    expect(steps.map((s) => s.id)).not.toContain('register');
    expect(steps.find((s) => s.id === 'evaluate')!.inputs).toEqual({ rows: 'data.version' });
    expect(steps.find((s) => s.id === 'notify')!.inputs).toEqual({});
  });
  it('renaming a step rewires what read from it', () => {
    const steps = renameStep(chain(), 'data', 'newest');
    expect(steps[0].id).toBe('newest');
    expect(steps.find((s) => s.id === 'check')!.inputs.version).toBe('newest.version');
    expect(steps.find((s) => s.id === 'evaluate')!.inputs).toEqual({ candidate: 'register.model_version', rows: 'newest.version' });
  });
});

describe('YAML diff', () => {
  it('marks added and removed lines against the saved file', () => {
    const d = lineDiff('name: a\nsteps:\n  - id: x\n', 'name: b\nsteps:\n  - id: x\n  - id: y\n');
    expect(d.filter((l) => l.kind !== 'same').map((l) => `${l.kind} ${l.text}`)).toEqual(['del name: a', 'add name: b', 'add   - id: y']);
    expect(lineDiff('a\nb\n', 'a\nb\n').every((l) => l.kind === 'same')).toBe(true);
  });
  it('keeps a little context around changes and folds the rest', () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n');
    const after = before.replace('l10', 'L10');
    const h = hunks(lineDiff(before, after), 1);
    expect(h.map((l) => l.text)).toEqual(['…', 'l9', 'l10', 'L10', 'l11', '…']);
  });
  it('reads the line a worded error names', () => {
    expect(errorLine('Line 7: Step "t": unknown step type "trian".')).toBe(7);
    expect(errorLine('The pipeline needs a name.')).toBe(0);
  });
});
