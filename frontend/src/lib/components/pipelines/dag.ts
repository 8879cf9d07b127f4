// The pipeline graph as the editor and the run page draw it: edges read
// from the steps' wired inputs, which output may feed which input, and a
// layered layout.
//
// Why a hand-written layout and not dagre/elk: a pipeline has about ten
// steps (the engine caps it at 200), so the longest-path layering plus a
// few barycentre sweeps below gives a readable top-to-bottom picture in
// well under a millisecond, in ~150 lines we can test, instead of a
// 300 kB dependency tuned for graphs a hundred times larger.

export interface PortLike {
  name: string;
  type: string;
  optional?: boolean;
}
export interface TypeLike {
  name: string;
  inputs: PortLike[];
  outputs: PortLike[];
}
export interface StepLike {
  id: string;
  type: string;
  inputs: Record<string, string>;
}

/** An edge: step `from`'s output feeds step `to`'s input. */
export interface Edge {
  from: string;
  output: string;
  to: string;
  input: string;
}

/** Splits an input's wiring "step.output" (a step ID holds no dot). */
export function parseRef(ref: string): { step: string; output: string } | null {
  const i = ref.indexOf('.');
  if (i <= 0 || i === ref.length - 1) return null;
  return { step: ref.slice(0, i), output: ref.slice(i + 1) };
}

/** The edges between steps that exist; wiring to a missing step is left for Check to name. */
export function edgesOf(steps: StepLike[]): Edge[] {
  const ids = new Set(steps.map((s) => s.id));
  const out: Edge[] = [];
  for (const s of steps) {
    for (const [input, ref] of Object.entries(s.inputs ?? {})) {
      const r = parseRef(ref);
      if (r && ids.has(r.step) && r.step !== s.id) out.push({ from: r.step, output: r.output, to: s.id, input });
    }
  }
  return out;
}

/** The engine's rule (backend/pipeline validate.go): same type, or an input of type "any", which only orders. */
export function compatible(outputType: string, inputType: string): boolean {
  return inputType === 'any' || outputType === inputType;
}

/** Says whether wiring from → to would close a cycle (to already reaches from). */
export function wouldCycle(steps: StepLike[], from: string, to: string): boolean {
  if (from === to) return true;
  const next = new Map<string, string[]>();
  for (const e of edgesOf(steps)) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const seen = new Set<string>();
  const stack = [to];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === from) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(next.get(id) ?? []));
  }
  return false;
}

/**
 * Each step's layer: 0 for steps that read nothing, else one more than
 * the deepest step it reads from (longest path). A cycle (the editor
 * refuses to make one, but a file may hold one) stops deepening after
 * one pass per step, so the layout still ends.
 */
export function layersOf(steps: StepLike[]): Map<string, number> {
  const layer = new Map(steps.map((s) => [s.id, 0]));
  const es = edgesOf(steps);
  for (let pass = 0; pass < steps.length; pass++) {
    let moved = false;
    for (const e of es) {
      const want = layer.get(e.from)! + 1;
      if (layer.get(e.to)! < want) {
        layer.set(e.to, want);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return layer;
}

export interface NodeBox {
  id: string;
  layer: number;
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface EdgePath extends Edge {
  d: string;
  /** Where the edge leaves and lands, for hit areas and labels. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export interface Layout {
  nodes: NodeBox[];
  edges: EdgePath[];
  width: number;
  height: number;
}
export interface LayoutOptions {
  nodeW?: number;
  nodeH?: number;
  gapX?: number;
  gapY?: number;
  pad?: number;
}

/** X of port i of n along a node's top or bottom edge. */
export function portX(box: { x: number; w: number }, i: number, n: number): number {
  return box.x + (box.w * (i + 1)) / (n + 1);
}

/**
 * Lays the steps out top to bottom, one row per layer. Within a row the
 * order starts as the pipeline's and is improved by barycentre sweeps
 * (down, then up) so edges cross less; rows are centred on the widest.
 */
export function layout(steps: StepLike[], types: Record<string, TypeLike>, opts: LayoutOptions = {}): Layout {
  const { nodeW = 196, nodeH = 52, gapX = 28, gapY = 36, pad = 16 } = opts;
  const layer = layersOf(steps);
  const depth = steps.length ? Math.max(...layer.values()) + 1 : 0;
  const rows: string[][] = Array.from({ length: depth }, () => []);
  for (const s of steps) rows[layer.get(s.id)!].push(s.id);
  const es = edgesOf(steps);
  const pos = new Map<string, number>();
  const index = () => rows.forEach((r) => r.forEach((id, i) => pos.set(id, i)));
  index();
  const sweep = (r: number, neighbours: (id: string) => string[]) => {
    const bary = new Map<string, number>();
    for (const id of rows[r]) {
      const ns = neighbours(id).filter((n) => pos.has(n));
      bary.set(id, ns.length ? ns.reduce((a, n) => a + pos.get(n)!, 0) / ns.length : pos.get(id)!);
    }
    rows[r].sort((a, b) => bary.get(a)! - bary.get(b)! || pos.get(a)! - pos.get(b)!);
    rows[r].forEach((id, i) => pos.set(id, i));
  };
  const ups = (id: string) => es.filter((e) => e.to === id && layer.get(e.from)! < layer.get(id)!).map((e) => e.from);
  const downs = (id: string) => es.filter((e) => e.from === id && layer.get(e.to)! > layer.get(id)!).map((e) => e.to);
  for (let round = 0; round < 3; round++) {
    for (let r = 1; r < depth; r++) sweep(r, ups);
    for (let r = depth - 2; r >= 0; r--) sweep(r, downs);
  }
  const widest = Math.max(0, ...rows.map((r) => r.length));
  const width = pad * 2 + widest * nodeW + Math.max(0, widest - 1) * gapX;
  const height = pad * 2 + depth * nodeH + Math.max(0, depth - 1) * gapY;
  const boxes = new Map<string, NodeBox>();
  rows.forEach((row, r) => {
    const rowW = row.length * nodeW + Math.max(0, row.length - 1) * gapX;
    const x0 = (width - rowW) / 2;
    row.forEach((id, i) => boxes.set(id, { id, layer: r, x: x0 + i * (nodeW + gapX), y: pad + r * (nodeH + gapY), w: nodeW, h: nodeH }));
  });
  const edges: EdgePath[] = es.map((e) => {
    const a = boxes.get(e.from)!;
    const b = boxes.get(e.to)!;
    const from = steps.find((s) => s.id === e.from)!;
    const to = steps.find((s) => s.id === e.to)!;
    const outs = types[from.type]?.outputs ?? [];
    const ins = types[to.type]?.inputs ?? [];
    const oi = Math.max(0, outs.findIndex((p) => p.name === e.output));
    const ii = Math.max(0, ins.findIndex((p) => p.name === e.input));
    const x1 = portX(a, oi, Math.max(outs.length, 1));
    const y1 = a.y + a.h;
    const x2 = portX(b, ii, Math.max(ins.length, 1));
    const y2 = b.y;
    const bend = Math.max(24, (y2 - y1) / 2);
    return { ...e, x1, y1, x2, y2, d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}` };
  });
  return { nodes: steps.map((s) => boxes.get(s.id)!), edges, width, height };
}

/** A step ID not yet taken, from the type's name: "train", "train2", … */
export function freshId(steps: { id: string }[], typeName: string): string {
  const base = (typeName.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^[^A-Za-z]+/, '') || 'step').slice(0, 60);
  const taken = new Set(steps.map((s) => s.id));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
}

/**
 * The outputs (as "step.output") that may feed `input` of step `to`:
 * type-compatible, not the step itself, and not closing a cycle.
 */
export function sourcesFor(steps: StepLike[], types: Record<string, TypeLike>, to: string, input: PortLike): string[] {
  const out: string[] = [];
  for (const s of steps) {
    if (s.id === to || wouldCycle(steps, s.id, to)) continue;
    for (const o of types[s.type]?.outputs ?? []) if (compatible(o.type, input.type)) out.push(`${s.id}.${o.name}`);
  }
  return out;
}

/** Removes a step and every input wired to it (the inputs stay, unwired, for Check to name). */
export function removeStep<S extends StepLike>(steps: S[], id: string): S[] {
  return steps
    .filter((s) => s.id !== id)
    .map((s) => {
      const inputs = Object.fromEntries(Object.entries(s.inputs ?? {}).filter(([, ref]) => parseRef(ref)?.step !== id));
      return { ...s, inputs };
    });
}

/** Renames a step and every wiring that names it. */
export function renameStep<S extends StepLike>(steps: S[], from: string, to: string): S[] {
  return steps.map((s) => ({
    ...s,
    id: s.id === from ? to : s.id,
    inputs: Object.fromEntries(
      Object.entries(s.inputs ?? {}).map(([k, ref]) => {
        const r = parseRef(ref);
        return [k, r && r.step === from ? `${to}.${r.output}` : ref];
      }),
    ),
  }));
}
