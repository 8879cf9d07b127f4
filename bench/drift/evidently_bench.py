"""The peer side of bench/drift/run.sh: Evidently (and a bare scipy loop) on
the same float64 matrices Tern's drift-bench reads.

usage: evidently_bench.py REF CUR METHOD REPEAT STATS_OUT
Prints `evidently_median_s=… min_s=… max_s=…` and `scipy_median_s=…`, and
writes Evidently's per-column scores to STATS_OUT for the cross-check.
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore")


def load(path):
    hdr = np.fromfile(path, dtype="<i8", count=2)
    rows, cols = int(hdr[0]), int(hdr[1])
    data = np.fromfile(path, dtype="<f8", offset=16).reshape(cols, rows)
    return pd.DataFrame({f"c{i}": data[i] for i in range(cols)})


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat):
    """Wall times (sorted), the last result, and CPU seconds per run."""
    t = []
    out = None
    c0 = cpu()
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    t.sort()
    return t, out, (cpu() - c0) / repeat


def main():
    ref_path, cur_path, method, repeat, stats_out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    ref, cur = load(ref_path), load(cur_path)

    from evidently import Report
    from evidently.presets import DataDriftPreset

    def run_evidently():
        report = Report([DataDriftPreset(method=method)])
        return report.run(current_data=cur, reference_data=ref)

    t, snap, c = timed(run_evidently, repeat)
    print(f"evidently_median_s={t[len(t)//2]:.4f} min_s={t[0]:.4f} max_s={t[-1]:.4f} cpu_s={c:.3f} runs={len(t)}", flush=True)

    scores = {}
    for m in snap.dict().get("metrics", []):
        cfg = m.get("config", {})
        col = cfg.get("column")
        if col is not None and isinstance(m.get("value"), (int, float)):
            scores[col] = m["value"]
    with open(stats_out, "w") as f:
        json.dump(scores, f)

    def run_scipy():
        out = {}
        for c in ref.columns:
            r, k = ref[c].to_numpy(), cur[c].to_numpy()
            if method == "ks":
                out[c] = stats.ks_2samp(r, k).pvalue
            else:
                out[c] = stats.wasserstein_distance(r, k) / max(np.std(r), 0.001)
        return out

    t, _, c = timed(run_scipy, repeat)
    print(f"scipy_median_s={t[len(t)//2]:.4f} min_s={t[0]:.4f} max_s={t[-1]:.4f} cpu_s={c:.3f} runs={len(t)}", flush=True)


if __name__ == "__main__":
    main()
