"""Scores a Tern built-in model (model.json) in Python, without Tern.

MLflow's python_function flavor loads it: the model directory's MLmodel
names this file's folder as `code` and this module as `loader_module`, so
`mlflow.pyfunc.load_model(uri)` calls `_load_pyfunc(<dir>/model.json)`.
It needs numpy alone (and pandas only when given something other than a
DataFrame), and it does what Tern's Go scorer does, step for step, so the
answers agree to rounding (Tern's test holds them to 1e-9):

- numeric columns: a missing value (None, NaN, "", "nan", "null") becomes
  the training median; other text is parsed as a number; infinities are
  refused; then (x - mean) / std when the model scales;
- text columns: the value, trimmed, is looked up in the categories kept at
  training (most frequent first); unseen and rare values share one code
  (trees) or no indicator (linear models, one-hot);
- linear models: bias + w . x per output; GBDT: baseline plus every tree's
  leaf, summed in tree order, each tree sending x <= threshold left;
- classifiers: a sigmoid for one score column, else a softmax; the label
  is the first most probable class.

predict answers labels (classifiers) or values (regressors); with params
{"predict_method": "predict_proba"} a classifier answers one probability
per class, in the order of the model's classes.

The file is written by Tern into every built-in model it saves or exports;
its name carries the format version so two versions can load side by side.
"""

import json
import math

import numpy as np

FORMAT = "tern-model"
FORMAT_VERSION = 1


def _load_pyfunc(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    return TernModel(spec)


class TernModel:
    def __init__(self, spec):
        if spec.get("format") != FORMAT or spec.get("version") != FORMAT_VERSION:
            raise ValueError(
                "Unsupported model format/version %r v%r: this loader reads %s v%d."
                % (spec.get("format"), spec.get("version"), FORMAT, FORMAT_VERSION)
            )
        self.task = spec["task"]
        self.classes = spec.get("classes") or []
        self.numeric_classes = bool(spec.get("numeric_classes"))
        prep = spec["preprocessing"]
        self.features = prep["features"]
        self.one_hot = bool(prep.get("one_hot"))
        self.scale = bool(prep.get("scale"))
        self.codes = [
            {c: i for i, c in enumerate(f.get("categories") or [])} if f["kind"] == "categorical" else None
            for f in self.features
        ]
        self.linear = spec.get("linear")
        self.trees = None
        if spec.get("gbdt"):
            g = spec["gbdt"]
            self.baseline = [float(b) for b in g["baseline"]]
            self.trees = [
                [
                    (
                        np.asarray(t["f"], dtype=np.int64),
                        np.asarray(t["t"], dtype=np.float64),
                        np.asarray(t["l"], dtype=np.int64),
                        np.asarray(t["r"], dtype=np.int64),
                        np.asarray(t["v"], dtype=np.float64),
                    )
                    for t in iteration
                ]
                for iteration in g["trees"]
            ]
        else:
            self.weights = np.asarray(self.linear["weights"], dtype=np.float64)
            self.bias = np.asarray(self.linear["bias"], dtype=np.float64)

    # --- inputs -----------------------------------------------------------

    def _column(self, data, name):
        try:
            col = data[name]
        except (KeyError, IndexError, TypeError):
            raise ValueError("The input has no column %r, which the model needs." % name)
        return list(col)

    def _transform(self, data):
        if not hasattr(data, "columns"):
            import pandas as pd

            data = pd.DataFrame(data)
        n = len(data)
        width = sum(
            len(f.get("categories") or []) if f["kind"] == "categorical" and self.one_hot else 1
            for f in self.features
        )
        X = np.zeros((n, width), dtype=np.float64)
        k = 0
        for i, f in enumerate(self.features):
            values = self._column(data, f["name"])
            if f["kind"] == "numeric":
                for r, v in enumerate(values):
                    x = f["median"] if _missing(v) else _number(v, r, f["name"])
                    if self.scale:
                        x = (x - f["mean"]) / f["std"]
                    X[r, k] = x
                k += 1
                continue
            cats = f.get("categories") or []
            codes = self.codes[i]
            for r, v in enumerate(values):
                code = codes.get(_text(v))
                if self.one_hot:
                    if code is not None:
                        X[r, k + code] = 1.0
                else:
                    X[r, k] = float(len(cats) if code is None else code)
            k += len(cats) if self.one_hot else 1
        return X

    # --- scores -----------------------------------------------------------

    def _scores(self, X):
        n = X.shape[0]
        if self.trees is None:
            out = np.empty((n, len(self.bias)), dtype=np.float64)
            for c in range(len(self.bias)):
                s = np.full(n, self.bias[c])
                for j in range(X.shape[1]):
                    s = s + self.weights[c][j] * X[:, j]
                out[:, c] = s
            return out
        k = len(self.baseline)
        out = np.empty((n, k), dtype=np.float64)
        for c in range(k):
            s = np.full(n, self.baseline[c])
            for iteration in self.trees:
                s = s + _tree(iteration[c], X)
            out[:, c] = s
        return out

    def _proba(self, X):
        s = self._scores(X)
        if s.shape[1] == 1:
            p = np.array([_sigmoid(v) for v in s[:, 0]], dtype=np.float64)
            return np.column_stack([1 - p, p])
        out = np.empty_like(s)
        for r in range(s.shape[0]):
            e = np.exp(s[r] - s[r].max())
            out[r] = e / e.sum()
        return out

    def predict(self, model_input, params=None):
        method = (params or {}).get("predict_method") or "predict"
        if method not in ("predict", "predict_proba"):
            raise ValueError('predict_method is %r; it takes "predict" or "predict_proba".' % (method,))
        X = self._transform(model_input)
        if self.task == "regression":
            if method == "predict_proba":
                raise ValueError("predict_proba is for classifiers; this model is a regressor.")
            return self._scores(X)[:, 0]
        probs = self._proba(X)
        if method == "predict_proba":
            return probs
        best = probs.argmax(axis=1)  # the first of equal maxima, as Tern picks
        if self.numeric_classes:
            return np.array([float(self.classes[b]) for b in best], dtype=np.float64)
        return np.array([self.classes[b] for b in best], dtype=object)


def _tree(t, X):
    feature, threshold, left, right, value = t
    node = np.zeros(X.shape[0], dtype=np.int64)
    rows = np.arange(X.shape[0])
    while rows.size:
        nd = node[rows]
        f = feature[nd]
        inner = f >= 0
        rows, nd, f = rows[inner], nd[inner], f[inner]
        go_left = X[rows, f] <= threshold[nd]
        node[rows] = np.where(go_left, left[nd], right[nd])
    return value[node]


def _sigmoid(x):
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _is_nan(v):
    try:
        return bool(v != v)
    except (TypeError, ValueError):  # pandas.NA: its comparison is NA, which has no truth value
        return True


def _missing(v):
    if v is None or _is_nan(v):
        return True
    if isinstance(v, str):
        s = v.strip().lower()
        return s in ("", "nan", "null")
    return False


def _number(v, row, name):
    if isinstance(v, (bool, np.bool_)):
        return 1.0 if v else 0.0
    try:
        x = float(v.strip() if isinstance(v, str) else v)
    except (TypeError, ValueError):
        x = float("nan")
    if math.isnan(x) or math.isinf(x):
        raise ValueError("Row %d, column %r: %r is not a finite number." % (row + 1, name, v))
    return x


def _text(v):
    """The category a value names, as Tern renders it ("" when missing)."""
    if v is None or _is_nan(v):
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return go_float(float(v))
    return str(v)


def go_float(x):
    """Go's strconv.FormatFloat(x, 'g', -1, 64): the shortest digits that
    read back as x, in exponent form below 1e-4 and from 1e6 up."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    mant, exp = ("%r" % abs(x)).lower().partition("e")[::2]
    digits = mant.replace(".", "")
    point = mant.index(".") if "." in mant else len(mant)
    point += int(exp) if exp else 0
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    e = point - 1
    if e < -4 or e >= 6:
        frac = digits[1:]
        return "%s%s%s%se%s%02d" % (sign, digits[0], "." if frac else "", frac, "-" if e < 0 else "+", abs(e))
    if point <= 0:
        return sign + "0." + "0" * (-point) + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]
