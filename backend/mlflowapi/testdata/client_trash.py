# The trash through the real mlflow client: "delete" makes a run and
# deletes it, "restore" restores the run named in argv[2]. Between the two
# the Go test checks the run is in Tern's trash.
import json
import sys

import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

client = MlflowClient()
out = {}


def names(view):
    runs = client.search_runs([exp_id], run_view_type=view)
    return sorted(r.info.run_name for r in runs)


if sys.argv[1] == "delete":
    exp_id = client.create_experiment("trash")
    with mlflow.start_run(experiment_id=exp_id, run_name="kept") as kept:
        mlflow.log_metric("auc", 0.7)
    with mlflow.start_run(experiment_id=exp_id, run_name="binned") as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("auc", 0.9)
        mlflow.log_text("weights", "model/weights.txt")
    client.delete_run(run.info.run_id)
    out["run_id"] = run.info.run_id
    out["exp_id"] = exp_id
    out["stage"] = client.get_run(run.info.run_id).info.lifecycle_stage
    out["active"] = names(ViewType.ACTIVE_ONLY)
    out["deleted"] = names(ViewType.DELETED_ONLY)
    out["all"] = names(ViewType.ALL)
else:
    run_id, exp_id = sys.argv[2], sys.argv[3]
    client.restore_run(run_id)
    r = client.get_run(run_id)
    out["stage"] = r.info.lifecycle_stage
    out["params"] = r.data.params
    out["metrics"] = r.data.metrics
    out["active"] = names(ViewType.ACTIVE_ONLY)
    out["deleted"] = names(ViewType.DELETED_ONLY)

print("RESULT " + json.dumps(out))
