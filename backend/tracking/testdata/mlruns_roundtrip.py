# write: logs runs into an MLflow file store (mlruns/) for Tern to import.
# read: reads a Tern export back with the mlflow client's own file store.
import json
import sys

import mlflow
from mlflow.tracking import MlflowClient

mode, root = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri("file://" + root)
client = MlflowClient()
if mode == "write":
    exp = client.create_experiment("imported")
    run = client.create_run(exp, run_name="from-mlflow", tags={"team": "risk"})
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.1")
    client.log_param(rid, "nested/key", "v")
    from mlflow.entities import Metric
    points = [Metric("loss", 1.0 / (step + 1), 1700000000000 + step, step) for step in range(100)]
    client.log_batch(rid, metrics=points + [Metric("nan", float("nan"), 1, 0)])
    client.log_text(rid, "hello", "notes/readme.txt")
    client.set_terminated(rid, "FINISHED")
    gone = client.create_run(exp, run_name="deleted-one")
    client.delete_run(gone.info.run_id)
    print("RESULT " + json.dumps({"exp": exp, "run": rid, "deleted": gone.info.run_id}))
else:
    exp = client.get_experiment_by_name(sys.argv[3])
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.run_name ASC"])
    out = []
    for r in runs:
        out.append({
            "id": r.info.run_id,
            "name": r.info.run_name,
            "status": r.info.status,
            "params": r.data.params,
            "metrics": {k: repr(v) for k, v in r.data.metrics.items()},
            "history": len(client.get_metric_history(r.info.run_id, "loss")),
        })
    print("RESULT " + json.dumps(out))
