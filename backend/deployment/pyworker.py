"""Tern's Python model worker: unpickles one scikit-learn model and scores
rows for the tern-runtime server in front of it.

It runs in its own container with no network at all (--network none),
non-root, read-only root, every capability dropped, and listens on a Unix
socket in a small tmpfs volume that the front container also mounts. The
front decodes and checks every HTTP request against the model's signature
(the same code as Tern's native server), so this process only ever sees
rows that were accepted, in signature order and types.

Wire: each message is a 4-byte big-endian length, then UTF-8 JSON.
  {"op": "info"}  ->  {"classifier": bool, "classes": [...], "proba": bool,
                       "outputs": int, "model": "Pipeline"}
  {"op": "predict", "proba": bool, "rows": n,
   "columns": [{"name", "type", "values": [...]}]}
                  ->  classifier: {"labels": [class index...], "proba": [[p...]...]}
                      otherwise:  {"values": [v...]}
                      or {"error": "ValueError: ..."} when the model raises.

Usage: python3 pyworker.py MODEL.pkl SOCKET
"""
import json
import math
import os
import pickle
import socketserver
import struct
import sys

import numpy as np
import pandas as pd

MAX_MESSAGE = 256 << 20


def describe(model):
    try:
        from sklearn.base import is_classifier
        classifier = bool(is_classifier(model))
    except Exception:
        classifier = False
    classes = getattr(model, "classes_", None) if classifier else None
    if classes is None:
        classifier = False
    info = {"classifier": classifier, "classes": [], "proba": False, "outputs": 1,
            "model": type(model).__name__}
    if classifier:
        info["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
        info["proba"] = hasattr(model, "predict_proba")
    return info


def frame(columns):
    data = {}
    for c in columns:
        values, kind = c["values"], c["type"]
        if kind == "string":
            data[c["name"]] = pd.Series(values, dtype=object)
            continue
        a = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if not np.isnan(a).any():
            if kind == "long":
                a = a.astype(np.int64)
            elif kind == "integer":
                a = a.astype(np.int32)
            elif kind == "boolean":
                a = a.astype(bool)
        if kind == "float":
            a = a.astype(np.float32)
        data[c["name"]] = a
    return pd.DataFrame(data, columns=[c["name"] for c in columns])


def finite(values):
    """JSON has no NaN or infinity: those travel as null."""
    out = []
    for v in values:
        v = float(v)
        out.append(v if math.isfinite(v) else None)
    return out


class Worker:
    def __init__(self, model):
        self.model = model
        self.info = describe(model)
        self.index = {c: i for i, c in enumerate(self.info["classes"])}

    def predict(self, req):
        X = frame(req["columns"])
        try:
            pred = np.asarray(self.model.predict(X))
            proba = None
            if self.info["classifier"] and req.get("proba") and self.info["proba"]:
                proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        except Exception as e:  # the model's own refusal: the front answers 400
            return {"error": "%s: %s" % (type(e).__name__, e)}
        if self.info["classifier"]:
            labels = []
            for v in pred.tolist():
                i = self.index.get(v, -1)
                labels.append(i)
            out = {"labels": labels}
            if proba is not None:
                out["proba"] = [finite(row) for row in proba.tolist()]
            return out
        if pred.ndim > 1 and pred.shape[1] == 1:
            pred = pred[:, 0]
        if pred.ndim != 1:
            return {"error": "the model answers %d values per row; Tern serves one" % pred.shape[1]}
        return {"values": finite(pred.astype(np.float64).tolist())}


def read_message(f):
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_MESSAGE:
        raise ValueError("message too large")
    body = f.read(n)
    if len(body) < n:
        return None
    return json.loads(body)


def write_message(f, obj):
    body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    f.write(struct.pack(">I", len(body)) + body)
    f.flush()


def serve(worker, path):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                try:
                    req = read_message(self.rfile)
                except ValueError:
                    return
                if req is None:
                    return
                if req.get("op") == "info":
                    write_message(self.wfile, worker.info)
                elif req.get("op") == "predict":
                    write_message(self.wfile, worker.predict(req))
                else:
                    write_message(self.wfile, {"error": "unknown op"})

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(path):
        os.unlink(path)
    # The socket appears only now, after the model loaded: the front's
    # first successful connection means the model is ready.
    srv = Server(path, Handler)
    print(json.dumps({"tern": "status", "message": "worker ready", "model": worker.info["model"]}), flush=True)
    srv.serve_forever()


def main():
    if len(sys.argv) != 3:
        print("usage: pyworker.py MODEL.pkl SOCKET", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)
    serve(Worker(model), sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
