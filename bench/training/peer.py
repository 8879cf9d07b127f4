"""scikit-learn's HistGradientBoosting on the same train/test files, with
its defaults (early stopping on when n > 10 000, as ours)."""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import mean_squared_error, roc_auc_score

kind, train, test = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
tr, te = pd.read_csv(train), pd.read_csv(test)
ytr, yte = tr.pop("y"), te.pop("y")
t1 = time.perf_counter()
if kind == "cls":
    m = HistGradientBoostingClassifier(random_state=42).fit(tr, ytr)
    fit = time.perf_counter() - t1
    score = roc_auc_score(yte, m.predict_proba(te)[:, 1])
else:
    m = HistGradientBoostingRegressor(random_state=42).fit(tr, ytr)
    fit = time.perf_counter() - t1
    score = float(np.sqrt(mean_squared_error(yte, m.predict(te))))
print(json.dumps({"score": score, "fit_seconds": fit, "total_seconds": time.perf_counter() - t0, "n_iter": int(m.n_iter_)}))
