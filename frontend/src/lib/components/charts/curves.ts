// What the metric charts draw, as plain data: which series are curves,
// smoothing, the x-axis choice, and the mapping to uPlot's aligned columns.
// Kept free of the DOM so the mapping is tested on its own (curves.test.ts).

/** One logged point; timestamp (epoch ms) is absent for live points. */
export interface CurvePoint {
  step: number;
  value: number;
  timestamp?: number;
}

/** One line: a run's (or a job's) values of one metric. */
export interface Curve {
  name: string;
  points: CurvePoint[];
}

/** What the x-axis counts. */
export type XAxis = 'step' | 'wall' | 'relative';

export const X_AXES: { id: XAxis; label: string }[] = [
  { id: 'step', label: 'Step' },
  { id: 'relative', label: 'Relative time' },
  { id: 'wall', label: 'Wall time' },
];

export interface ChartView {
  x: XAxis;
  /** Exponential smoothing weight, 0 (none) to 0.99. */
  smoothing: number;
  logY: boolean;
}

export const DEFAULT_VIEW: ChartView = { x: 'step', smoothing: 0, logY: false };

/** A series is drawn as a curve only when it has more than one step (UI.md). */
export function isCurve(points: CurvePoint[]): boolean {
  if (points.length < 2) return false;
  const first = points[0].step;
  return points.some((p) => p.step !== first);
}

/**
 * TensorBoard's smoothing: an exponential moving average, debiased so the
 * first values are not pulled towards zero. Non-finite values pass through
 * unchanged and do not disturb the average.
 */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (!(weight > 0)) return values.slice();
  const w = Math.min(weight, 0.999);
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last * w + (1 - w) * v;
    n++;
    return last / (1 - Math.pow(w, n));
  });
}

/** The x of a point on the chosen axis: steps, epoch seconds (uPlot's time scale), or seconds since the curve began. */
function xOf(p: CurvePoint, axis: XAxis, start: number): number | null {
  if (axis === 'step') return p.step;
  if (p.timestamp === undefined) return null;
  return axis === 'wall' ? p.timestamp / 1000 : (p.timestamp - start) / 1000;
}

/** Whether every curve carries times, so the time axes can be offered. */
export const hasTimes = (curves: Curve[]): boolean =>
  curves.length > 0 && curves.every((c) => c.points.every((p) => p.timestamp !== undefined));

/**
 * uPlot's aligned data: one sorted x column shared by every curve, and a
 * y column per curve with null where that curve has no point at that x
 * (uPlot bridges the gap with spanGaps). Points of a curve at the same x
 * keep the last value, as a re-logged step replaces. On a log axis,
 * values ≤ 0 become null (they have no place on it).
 */
export function align(curves: Curve[], view: ChartView): [number[], ...(number | null)[][]] {
  const perCurve = curves.map((c) => {
    const start = c.points.length ? Math.min(...c.points.map((p) => p.timestamp ?? Infinity)) : 0;
    const m = new Map<number, number>();
    for (const p of c.points) {
      const x = xOf(p, view.x, start);
      if (x === null || !Number.isFinite(x)) continue;
      m.set(x, p.value);
    }
    return m;
  });
  const xs = [...new Set(perCurve.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const ys = perCurve.map((m) => {
    const raw = xs.map((x) => (m.has(x) ? m.get(x)! : null));
    const finite = raw.map((v) => (v !== null && Number.isFinite(v) ? v : null));
    // Smooth each curve along its own points, then place the gaps back.
    const own = finite.filter((v, i) => raw[i] !== null);
    const sm = smooth(own, view.smoothing);
    let k = 0;
    return raw.map((v) => {
      if (v === null) return null;
      const s = sm[k++];
      if (s === null || !Number.isFinite(s)) return null;
      return view.logY && s <= 0 ? null : s;
    });
  });
  return [xs, ...ys];
}

/** Whether lower is better for a metric, by its name (loss, error, RMSE…); higher otherwise. */
export function lowerIsBetter(metric: string): boolean {
  return /(loss|error|err\b|mse|rmse|mae|mape|deviance|perplexity|brier|latency|time|_ms\b)/i.test(metric);
}

/** Index of the best value (ties: the first), or -1 when there is none to compare. */
export function bestIndex(metric: string, values: (number | null | undefined)[]): number {
  const low = lowerIsBetter(metric);
  let best = -1;
  values.forEach((v, i) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return;
    const b = best < 0 ? undefined : values[best]!;
    if (b === undefined || (low ? v < b : v > b)) best = i;
  });
  const finite = values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  // Nothing stands out when fewer than two runs have it or all are equal.
  return finite.length >= 2 && finite.some((v) => v !== finite[0]) ? best : -1;
}
