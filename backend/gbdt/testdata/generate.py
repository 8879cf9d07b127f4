"""Generate XGBoost and LightGBM models with the current pip packages, and
the predictions those packages make, so Tern's readers can be checked
against them to 1e-6. Run from the repo root:

    .venv/bin/python backend/gbdt/testdata/generate.py

The versions used are recorded in versions.json; .ci/python-test.txt pins
the same ones, and TestReadersAgainstCurrentPackages regenerates in CI.
"""
import json
import os
import sys

import numpy as np
import lightgbm as lgb
import xgboost as xgb

out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
n, p = 400, 6
X = rng.normal(size=(n, p))
X[rng.random(size=(n, p)) < 0.05] = np.nan  # missing values exercise default branches
X[:, 5] = np.where(rng.random(n) < 0.3, 0.0, X[:, 5])  # zeros exercise LightGBM's zero-as-missing
lin = X[:, 0] * 2 - X[:, 1] + np.nan_to_num(X[:, 2]) * X[:, 3]
y_reg = np.nan_to_num(lin) + rng.normal(scale=0.1, size=n)
y_bin = (np.nan_to_num(lin) > 0).astype(int)
y_multi = np.digitize(np.nan_to_num(lin), [-1, 1])  # 3 classes
y_count = rng.poisson(np.exp(np.clip(np.nan_to_num(X[:, 0]), -2, 2)))

Xtest = rng.normal(size=(50, p))
Xtest[rng.random(size=(50, p)) < 0.1] = np.nan
Xtest[:5, 5] = 0.0
Xtest[5, :] = np.nan

cases = {}

def xgb_case(name, params, y, rounds=20):
    d = xgb.DMatrix(X, label=y, missing=np.nan)
    booster = xgb.train(params, d, num_boost_round=rounds)
    path = os.path.join(out, name + ".json")
    booster.save_model(path)
    pred = booster.predict(xgb.DMatrix(Xtest, missing=np.nan))
    cases[name] = {"file": name + ".json", "kind": "xgboost", "predictions": np.asarray(pred, dtype=float).reshape(len(Xtest), -1).tolist()}
    # The same booster as UBJSON: XGBoost's default format since 2.1 and
    # what MLflow's xgboost flavor saves (model.ubj; model.xgb in MLflow 2.x,
    # which XGBoost >= 2.1 also writes as UBJSON).
    for ext in ubj_exts.get(name, [".ubj"]):
        booster.save_model(os.path.join(out, name + ext))
        cases[name + ext.replace(".", "_")] = dict(cases[name], file=name + ext)

ubj_exts = {"xgb_binary": [".ubj", ".xgb"]}

def lgb_case(name, params, y, rounds=20):
    params = dict(params, verbose=-1, seed=1, deterministic=True, num_threads=1)
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=rounds)
    path = os.path.join(out, name + ".txt")
    booster.save_model(path)
    pred = booster.predict(Xtest)
    cases[name] = {"file": name + ".txt", "kind": "lightgbm", "predictions": np.asarray(pred, dtype=float).reshape(len(Xtest), -1).tolist()}

xgb_case("xgb_regression", {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3}, y_reg)
xgb_case("xgb_binary", {"objective": "binary:logistic", "max_depth": 3}, y_bin)
xgb_case("xgb_logitraw", {"objective": "binary:logitraw", "max_depth": 3}, y_bin)
xgb_case("xgb_multi", {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, y_multi)
xgb_case("xgb_poisson", {"objective": "count:poisson", "max_depth": 3}, y_count)
xgb_case("xgb_dart", {"booster": "dart", "objective": "reg:squarederror", "rate_drop": 0.1, "max_depth": 3}, y_reg, rounds=10)

lgb_case("lgb_regression", {"objective": "regression", "num_leaves": 15}, y_reg)
lgb_case("lgb_binary", {"objective": "binary", "num_leaves": 7}, y_bin)
lgb_case("lgb_multi", {"objective": "multiclass", "num_class": 3, "num_leaves": 7}, y_multi)
lgb_case("lgb_poisson", {"objective": "poisson", "num_leaves": 7}, y_count)
lgb_case("lgb_zero_missing", {"objective": "regression", "num_leaves": 7, "zero_as_missing": True}, y_reg)

with open(os.path.join(out, "cases.json"), "w") as fh:
    json.dump({"versions": {"xgboost": xgb.__version__, "lightgbm": lgb.__version__},
               "x": [[None if np.isnan(v) else float(v) for v in row] for row in Xtest],
               "cases": cases}, fh)
print("wrote", len(cases), "models to", out)
