"""Compute reference SHAP values with pip `shap` for TestTreeSHAPMatchesShap.

Reads a JSON request on stdin:
  {"x": [[...], ...],                      # rows, null = missing
   "models": [{"name": ..., "kind": "xgboost" | "lightgbm", "file": path}
              | {"name": ..., "kind": "tree_dict", "trees": [...], "base_offset": [...] }
              | {"name": ..., "kind": "linear", "coef": [[...]], "intercept": [...],
                 "background": [[...]], "x": [[...]]}]}
and writes {"versions": {...}, "results": {name: {"expected_value": [...],
"values": [[[...per output...] per feature] per row]}}} to stdout.

Every explainer is shap.TreeExplainer(model, feature_perturbation=
"tree_path_dependent", model_output="raw"): margin space, the default
perturbation for a model given without background data. "tree_dict" is
shap's own format for a custom ensemble (how the built-in GBDT is given to
shap: its trees send x <= threshold left, as shap's do). "linear" is
shap.LinearExplainer((coef, intercept), background) — interventional, the
background's column means as the expected value — on the model's own rows x
(the preprocessed matrix), one result column per matrix column.
"""
import json
import sys

import numpy as np
import shap

req = json.load(sys.stdin)
X = np.array([[np.nan if v is None else v for v in row] for row in (req.get("x") or [])], dtype=np.float64)
results = {}
for m in req["models"]:
    if m["kind"] == "linear":
        coef = np.array(m["coef"], dtype=np.float64)
        intercept = np.array(m["intercept"], dtype=np.float64)
        if coef.shape[0] == 1:
            coef, intercept = coef[0], intercept[0]
        background = np.array(m["background"], dtype=np.float64)
        # A bare array would be subsampled to 100 rows; keep every row.
        masker = shap.maskers.Independent(background, max_samples=len(background))
        explainer = shap.LinearExplainer((coef, intercept), masker)
        values = np.asarray(explainer.shap_values(np.array(m["x"], dtype=np.float64)), dtype=np.float64)
        if values.ndim == 2:
            values = values[:, :, None]
        elif values.shape[0] == coef.shape[0] and values.ndim == 3 and coef.ndim == 2 and values.shape[1] != coef.shape[1]:
            values = np.transpose(values, (1, 2, 0))  # older shap: one matrix per output
        ev = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
        results[m["name"]] = {"expected_value": ev.tolist(), "values": values.tolist()}
        continue
    if m["kind"] == "xgboost":
        import xgboost as xgb

        model = xgb.Booster()
        model.load_model(m["file"])
    elif m["kind"] == "lightgbm":
        import lightgbm as lgb

        model = lgb.Booster(model_file=m["file"])
    else:
        trees = []
        for t in m["trees"]:
            trees.append({
                "children_left": np.array(t["children_left"], dtype=np.int32),
                "children_right": np.array(t["children_right"], dtype=np.int32),
                "children_default": np.array(t["children_left"], dtype=np.int32),
                "features": np.array(t["features"], dtype=np.int32),
                "thresholds": np.array(t["thresholds"], dtype=np.float64),
                "values": np.array(t["values"], dtype=np.float64).reshape(-1, len(m["base_offset"])),
                "node_sample_weight": np.array(t["node_sample_weight"], dtype=np.float64),
            })
        model = {"trees": trees, "base_offset": np.array(m["base_offset"], dtype=np.float64)}
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent", model_output="raw")
    values = np.asarray(explainer.shap_values(X), dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    ev = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    results[m["name"]] = {"expected_value": ev.tolist(), "values": values.tolist()}

versions = {"shap": shap.__version__, "numpy": np.__version__}
for mod in ("xgboost", "lightgbm"):
    if mod in sys.modules:
        versions[mod] = sys.modules[mod].__version__
json.dump({"versions": versions, "results": results}, sys.stdout)
