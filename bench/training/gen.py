"""Generate the benchmark datasets: a classification and a regression
problem with non-linear structure, written as train/test CSVs so both
sides use exactly the same split."""
import sys
import numpy as np

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
p = 20
X = rng.normal(size=(n, p))
# Non-linear signal on a few features, interactions and noise.
f = (1.5 * X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 2] * X[:, 3] + np.sin(2 * X[:, 4])
     + 0.8 * (X[:, 5] > 0.5) - 0.5 * np.abs(X[:, 6]) + 0.3 * X[:, 7:12].sum(axis=1))
yc = (f + rng.normal(scale=1.5, size=n) > np.median(f)).astype(int)
yr = f + rng.normal(scale=1.0, size=n)
cut = int(n * 0.8)
cols = [f"x{i}" for i in range(p)]
for name, y in (("cls", yc), ("reg", yr)):
    for part, sl in (("train", slice(0, cut)), ("test", slice(cut, n))):
        with open(f"{out}/{name}_{part}.csv", "w") as fh:
            fh.write(",".join(cols + ["y"]) + "\n")
            fmt = ",".join(["%.6f"] * p) + (",%d" if name == "cls" else ",%.6f")
            np.savetxt(fh, np.column_stack([X[sl], y[sl]]), fmt=fmt)
