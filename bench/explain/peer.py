"""The Python side of bench/explain/run.sh.

gen DIR:   10,000 rows x 30 columns (5% missing), an XGBoost model of 500
           trees of depth 6 (binary:logistic) and one of 100 trees of depth 6,
           saved as JSON; rows as little-endian float64 (x.bin, row-major).
time DIR THREADS REPEAT: times shap.TreeExplainer(model,
           feature_perturbation="tree_path_dependent").shap_values(X) on the
           500-tree model with XGBoost's nthread = THREADS (shap hands path-
           dependent XGBoost explanations to XGBoost's own C++ TreeSHAP), and
           writes its values (float64, row-major rows x features) to
           shap.bin so run.sh can check Tern's against them. Prints
           "shap_s=<median wall seconds> shap_cpu_s=<median CPU seconds>".
"""
import os
import statistics
import sys
import time

import numpy as np

cmd, out = sys.argv[1], sys.argv[2]
if cmd == "gen":
    import xgboost as xgb

    rng = np.random.default_rng(12)
    n, p = 10_000, 30
    X = rng.normal(size=(n, p))
    logit = X[:, 0] * 1.5 - X[:, 1] + X[:, 2] * X[:, 3] + np.sin(X[:, 4] * 2) + 0.3 * X[:, 5:15].sum(axis=1)
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(int)
    X[rng.random(size=(n, p)) < 0.05] = np.nan
    d = xgb.DMatrix(X, label=y, missing=np.nan)
    for trees, name in ((500, "xgb_500x6.json"), (100, "xgb_100x6.json")):
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "nthread": 2, "seed": 1}, d, num_boost_round=trees)
        booster.save_model(os.path.join(out, name))
    X.astype("<f8").tofile(os.path.join(out, "x.bin"))
    print("rows", n, "cols", p)
elif cmd == "time":
    import shap
    import xgboost as xgb

    threads, repeat = int(sys.argv[3]), int(sys.argv[4])
    X = np.fromfile(os.path.join(out, "x.bin"), dtype="<f8").reshape(-1, 30)
    booster = xgb.Booster()
    booster.load_model(os.path.join(out, "xgb_500x6.json"))
    booster.set_param({"nthread": threads})
    explainer = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
    times, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        values = explainer.shap_values(X)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    np.asarray(values, dtype="<f8").tofile(os.path.join(out, "shap.bin"))
    print(f"shap_s={statistics.median(times):.4f} shap_cpu_s={statistics.median(cpus):.4f} shap={shap.__version__} xgboost={xgb.__version__} threads={threads}")
