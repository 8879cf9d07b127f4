"""The Python peer: a minimal MLflow-scoring-compatible WSGI app, run by
gunicorn, serving the same XGBoost JSON model Tern serves. It accepts
{"dataframe_split": {"columns": [...], "data": [[...]]}} and answers
{"predictions": [...]}, like `mlflow models serve` for an xgboost model but
without MLflow's pandas and schema layers (so it is, if anything, faster
than the real peer).
"""
import json
import os

import numpy as np
import xgboost as xgb

booster = xgb.Booster()
booster.load_model(os.environ["MODEL_FILE"])
booster.set_param({"nthread": 1})


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path in ("/ping", "/health"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"\n"]
    if path != "/invocations":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        req = json.loads(environ["wsgi.input"].read(size))
        split = req["dataframe_split"]
        x = np.asarray(split["data"], dtype=np.float32)
    except Exception as e:  # noqa: BLE001 - a bad request, as MLflow answers it
        body = json.dumps({"error_code": "BAD_REQUEST", "message": str(e)}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [body]
    pred = booster.inplace_predict(x)
    body = json.dumps({"predictions": pred.tolist()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
