"""fairlearn's figures for the cases on stdin (JSON), as JSON on stdout.

backend/fairness's exactness test writes the cases and compares every
figure with what Tern computes. Each case has protected columns (a name ->
values; Tern's "(missing)" group is passed as that text, since fairlearn
refuses missing values), and either binary outcomes (y_true, y_pred as
0/1, with optional multi-class labels for accuracy) or numbers
(regression). NaN is written as null.
"""

import json
import math
import sys

import numpy as np
import pandas as pd
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)


def clean(v):
    v = float(v)
    return None if math.isnan(v) else v


def key(idx):
    if isinstance(idx, tuple):
        return "\x1f".join(str(x) for x in idx)
    return str(idx)


def by_group(mf):
    out = {}
    for name in mf.by_group.columns:
        out[name] = {key(i): clean(v) for i, v in mf.by_group[name].items()}
    return out


def classification(case, sf):
    yt = np.asarray(case["y_true"], dtype=int)
    yp = np.asarray(case["y_pred"], dtype=int)
    lt = case.get("labels_true")
    lp = case.get("labels_pred")
    if lt is None:
        lt, lp = yt, yp
    lt, lp = np.asarray(lt, dtype=object), np.asarray(lp, dtype=object)

    def accuracy(y_true, y_pred, labels_true, labels_pred):
        # Accuracy on the labels (several classes), not on positive/negative;
        # MetricFrame hands each group its slice of the sample params.
        return skm.accuracy_score(labels_true, labels_pred)

    def precision(y_true, y_pred):
        return skm.precision_score(y_true, y_pred, pos_label=1, zero_division=0.0)

    metrics = {
        "count": count,
        "selection_rate": selection_rate,
        "true_positive_rate": lambda a, b: true_positive_rate(a, b, pos_label=1),
        "false_positive_rate": lambda a, b: false_positive_rate(a, b, pos_label=1),
        "precision_score": precision,
        "accuracy_score": accuracy,
    }
    yts, yps = pd.Series(yt), pd.Series(yp)
    params = {"accuracy_score": {"labels_true": lt, "labels_pred": lp}}
    mf = MetricFrame(metrics=metrics, y_true=yts, y_pred=yps, sensitive_features=sf, sample_params=params)
    res = {"by_group": by_group(mf), "overall": {k: clean(v) for k, v in mf.overall.items()}}
    for method in ("between_groups", "to_overall"):
        res[method] = {
            "difference": {k: clean(v) for k, v in mf.difference(method=method).items()},
            "ratio": {k: clean(v) for k, v in mf.ratio(method=method).items()},
            "demographic_parity_difference": clean(demographic_parity_difference(yt, yp, sensitive_features=sf, method=method)),
            "demographic_parity_ratio": clean(demographic_parity_ratio(yt, yp, sensitive_features=sf, method=method)),
            "equalized_odds_difference": clean(equalized_odds_difference(yt, yp, sensitive_features=sf, method=method)),
            "equalized_odds_ratio": clean(equalized_odds_ratio(yt, yp, sensitive_features=sf, method=method)),
            "equal_opportunity_difference": clean(equal_opportunity_difference(yt, yp, sensitive_features=sf, method=method)),
            "equal_opportunity_ratio": clean(equal_opportunity_ratio(yt, yp, sensitive_features=sf, method=method)),
        }
    return res


def regression(case, sf):
    yt = np.asarray(case["value_true"], dtype=float)
    yp = np.asarray(case["value_pred"], dtype=float)
    metrics = {
        "count": count,
        "mean_absolute_error": skm.mean_absolute_error,
        "root_mean_squared_error": skm.root_mean_squared_error,
    }
    mf = MetricFrame(metrics=metrics, y_true=yt, y_pred=yp, sensitive_features=sf)
    res = {"by_group": by_group(mf), "overall": {k: clean(v) for k, v in mf.overall.items()}}
    for method in ("between_groups", "to_overall"):
        res[method] = {
            "difference": {k: clean(v) for k, v in mf.difference(method=method).items()},
            "ratio": {k: clean(v) for k, v in mf.ratio(method=method).items()},
        }
    return res


def main():
    cases = json.load(sys.stdin)
    out = {}
    for case in cases:
        cols = case["columns"]
        names = case["order"]
        sf = pd.DataFrame({n: cols[n] for n in names}) if len(names) > 1 else pd.Series(cols[names[0]], name=names[0])
        out[case["name"]] = regression(case, sf) if case.get("regression") else classification(case, sf)
    json.dump(out, sys.stdout)


main()
