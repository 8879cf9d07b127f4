# Loads Tern's built-in models with the real, unmodified mlflow client and
# scores them, as someone without Tern would: from the registry through a
# models:/ URI (Tern's MLflow API), and from a folder exported on the model
# version page. MLFLOW_TRACKING_URI/TOKEN come from the Go test; argv[1] is
# the JSON job it wrote (models, export folders, rows to score).
# Prints one JSON object (after "RESULT ") that the Go test compares with
# Tern's own predictions.
import json
import sys

import numpy as np
import pandas as pd

import mlflow
from mlflow.exceptions import MlflowException

job = json.load(open(sys.argv[1]))


def frame(model, cols, rows, nullable_text):
    df = pd.DataFrame(rows, columns=cols)
    # As a user would: numeric columns as float64 (MLflow's double); text
    # either as pandas infers it (missing is NaN) or as the nullable
    # "string" dtype (missing is pandas.NA).
    for c in model.metadata.get_input_schema().inputs:
        if c.type.name == "double":
            df[c.name] = df[c.name].astype("float64")
        elif nullable_text:
            df[c.name] = df[c.name].astype("string")
    return df


def plain(a):
    a = np.asarray(a)
    return a.tolist()


out = {"models": {}}
for m in job["models"]:
    res = {}
    for where, uri in (("registry", "models:/%s/1" % m["name"]), ("export", m["export"])):
        model = mlflow.pyfunc.load_model(uri)
        df = frame(model, job["columns"], job["rows"], nullable_text=where == "export")
        r = {"flavors": sorted(model.metadata.flavors), "predict": plain(model.predict(df))}
        if m["classifier"]:
            r["proba"] = plain(model.predict(df, params={"predict_method": "predict_proba"}))
        # MLflow's own schema enforcement refuses a frame without a
        # required column, as Tern's server does.
        try:
            model.predict(df.drop(columns=[job["columns"][0]]))
            r["missing_refused"] = ""
        except MlflowException as e:
            r["missing_refused"] = e.message
        res[where] = r
    out["models"][m["name"]] = res

# Imported XGBoost and LightGBM models keep their own flavors and load
# through MLflow's own loaders.
out["imported"] = {}
for m in job["imported"]:
    res = {}
    for where, uri in (("registry", "models:/%s/1" % m["name"]), ("export", m["export"])):
        model = mlflow.pyfunc.load_model(uri)
        # A folder registered without a signature has none; its columns
        # are the ones the model file names.
        schema = model.metadata.get_input_schema()
        names = [c.name for c in schema.inputs] if schema else m["columns"]
        df = pd.DataFrame(job["gbdt_rows"], columns=names).astype("float64")
        res[where] = {
            "flavors": sorted(model.metadata.flavors),
            "loader": model.metadata.flavors["python_function"]["loader_module"],
            "predict": plain(model.predict(df)),
        }
    out["imported"][m["name"]] = res

# Category values that arrive as numbers are rendered as Go renders them.
sys.path.insert(0, job["models"][0]["export"] + "/code")
import tern_pyfunc_v1  # noqa: E402

out["go_float_mismatches"] = [
    [x, want, tern_pyfunc_v1.go_float(x)] for x, want in job["go_floats"] if tern_pyfunc_v1.go_float(x) != want
]
print("RESULT " + json.dumps(out))
