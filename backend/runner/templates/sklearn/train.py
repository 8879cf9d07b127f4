"""Train a scikit-learn model under Tern's container contract.

Inputs:  /tern/data/<file> (CSV; path also in TERN_DATA), /tern/params.json
         (also in TERN_PARAMS), e.g. {"target": "y", "max_iter": 100}.
Metrics: JSON lines on stdout: {"tern":"metric","key":"loss","value":0.3,"step":1}
         and {"tern":"param","key":"lr","value":"0.1"}; anything else is a log.
Outputs: /tern/outputs/model/ (model.pkl + MLmodel), other files in
         /tern/outputs become the run's artifacts.

If the image has the mlflow client and the job asked for tracking network
access, MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN are set and
mlflow.log_metric works as well; the JSON lines need nothing.
"""
import glob
import json
import math
import os
import pickle
import sys
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

OUT = os.environ.get("TERN_OUTPUTS", "/tern/outputs")


def emit(**fields):
    print(json.dumps(dict(tern=fields.pop("kind"), **fields)), flush=True)


def metric(key, value, step=0):
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        value = str(value)
    emit(kind="metric", key=key, value=value, step=int(step))


def param(key, value):
    emit(kind="param", key=key, value=str(value))


def fail(message):
    emit(kind="error", message=message)
    sys.exit(1)


def main():
    raw = os.environ.get("TERN_PARAMS")
    if not raw:
        with open("/tern/params.json") as f:
            raw = f.read()
    params = json.loads(raw or "{}")
    data = os.environ.get("TERN_DATA") or (glob.glob("/tern/data/*") or [None])[0]
    if not data:
        fail("No data file in /tern/data.")
    target = params.get("target")
    df = pd.read_csv(data)
    if target not in df.columns:
        fail(f"The data has no column {target!r} to predict.")
    df = df.dropna(subset=[target])
    y = df.pop(target)
    X = df
    # Text columns are "object" before pandas 3 and "str" from it on: ask
    # whether a column is numeric rather than naming a dtype.
    numeric = pd.api.types.is_numeric_dtype
    classify = not numeric(y) or (y.nunique() <= 10 and np.allclose(y, np.round(y)))
    seed = int(params.get("seed", 42))
    max_iter = int(params.get("max_iter", 100))
    lr = float(params.get("learning_rate", 0.1))
    for k, v in [("target", target), ("model", "sklearn-hgb"), ("max_iter", max_iter), ("learning_rate", lr), ("seed", seed)]:
        param(k, v)

    cats = [c for c in X.columns if not numeric(X[c])]
    nums = [c for c in X.columns if c not in cats]
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), nums),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), cats),
    ], sparse_threshold=0)
    Est = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    est = Est(max_iter=max_iter, learning_rate=lr, early_stopping=True, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=float(params.get("test_fraction", 0.2)), random_state=seed,
        stratify=y if classify else None)
    start = time.time()
    model = Pipeline([("prep", prep), ("model", est)]).fit(X_train, y_train)
    metric("training_seconds", time.time() - start)
    # scikit-learn records the (negated) loss per iteration when early
    # stopping is on; report it as the training curve.
    for i, s in enumerate(est.train_score_[1:], start=1):
        metric("train_loss", -s, i)
    for i, s in enumerate(est.validation_score_[1:], start=1):
        metric("val_loss", -s, i)
    if classify:
        proba = model.predict_proba(X_test)
        metric("test_accuracy", accuracy_score(y_test, model.predict(X_test)))
        metric("test_log_loss", log_loss(y_test, proba, labels=model.classes_))
        if len(model.classes_) == 2:
            metric("test_roc_auc", roc_auc_score(y_test, proba[:, 1]))
    else:
        pred = model.predict(X_test)
        metric("test_rmse", math.sqrt(mean_squared_error(y_test, pred)))
        metric("test_mae", mean_absolute_error(y_test, pred))
        metric("test_r2", r2_score(y_test, pred))

    mdir = os.path.join(OUT, "model")
    os.makedirs(mdir, exist_ok=True)
    with open(os.path.join(mdir, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    inputs = [{"name": c, "type": "string" if c in cats else "double"} for c in X.columns]
    with open(os.path.join(mdir, "MLmodel"), "w") as f:
        f.write("artifact_path: model\nflavors:\n")
        f.write("  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n")
        f.write("  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n")
        f.write("signature:\n  inputs: '%s'\n" % json.dumps(inputs))
    X.head(5).to_json(os.path.join(mdir, "input_example.json"), orient="split", index=False)
    print("model written to", mdir, flush=True)


if __name__ == "__main__":
    main()
