# Drives Tern's MLflow API with the real, unmodified mlflow client.
# MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN come from the Go test.
# Prints one JSON object with everything read back; the Go test checks it.
import json
import math
import os
import sys
import tempfile

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

out = {}
client = MlflowClient()

out["missing_by_name"] = mlflow.get_experiment_by_name("no-such-experiment") is None
out["default_name"] = client.get_experiment("0").name

exp_id = client.create_experiment("roundtrip", tags={"team": "risk"})
out["exp_id"] = exp_id
try:
    client.create_experiment("roundtrip")
    out["dup_exp_error"] = None
except MlflowException as e:
    out["dup_exp_error"] = e.error_code

mlflow.set_experiment("roundtrip")
with mlflow.start_run(run_name="gbdt-1") as run:
    run_id = run.info.run_id
    mlflow.log_params({"model": "gbdt", "lr": 0.1, "depth": 6})
    mlflow.log_param("model", "gbdt")  # same value again: fine
    try:
        mlflow.log_param("model", "linear")
        out["param_change_error"] = None
    except MlflowException as e:
        out["param_change_error"] = e.error_code
    mlflow.set_tags({"team": "risk", "stage": "dev"})
    ts = 1_700_000_000_000
    metrics = [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(10_000)]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    mlflow.log_metric("auc", 0.93, step=1)
    mlflow.log_metric("nan_metric", float("nan"))
    mlflow.log_metric("inf_metric", float("inf"))
    mlflow.log_metric("ninf_metric", float("-inf"))
    mlflow.log_metric("negzero", -0.0)
    mlflow.log_metric("huge", 1e308)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "notes.txt")
        with open(p, "w") as f:
            f.write("hello from mlflow")
        mlflow.log_artifact(p)
        mlflow.log_artifact(p, artifact_path="sub/dir")
    mlflow.log_text("some text", "texts/a.txt")

with mlflow.start_run(run_name="linear-1") as run2:
    mlflow.log_param("model", "linear")
    mlflow.log_metric("auc", 0.71)
    mlflow.set_tag("team", "growth")
    run2_id = run2.info.run_id

r = client.get_run(run_id)
out["run"] = {
    "name": r.info.run_name,
    "status": r.info.status,
    "end_time_set": r.info.end_time is not None and r.info.end_time > 0,
    "params": r.data.params,
    "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
    "metrics": {k: (v if math.isfinite(v) else repr(v)) for k, v in r.data.metrics.items()},
    "negzero_sign": math.copysign(1, r.data.metrics["negzero"]),
}
hist = client.get_metric_history(run_id, "loss")
out["history_len"] = len(hist)
out["history_first"] = [hist[0].step, hist[0].value, hist[0].timestamp]
out["history_last"] = [hist[-1].step, hist[-1].value]
out["nan_history"] = repr(client.get_metric_history(run_id, "nan_metric")[0].value)

found = mlflow.search_runs(
    experiment_ids=[exp_id],
    filter_string="metrics.auc > 0.9 and params.model = 'gbdt'",
    output_format="list",
)
out["search_filter"] = [x.info.run_id == run_id for x in found]
found_or = client.search_runs([exp_id], "params.model = 'linear' or tags.team = 'risk'", order_by=["metrics.auc DESC"])
out["search_or"] = [x.info.run_name for x in found_or]
try:
    client.search_runs([exp_id], "metrics.auc >")
    out["bad_filter_error"] = None
except MlflowException as e:
    out["bad_filter_error"] = e.error_code

arts = client.list_artifacts(run_id)
out["artifacts_top"] = sorted((a.path, a.is_dir) for a in arts)
out["artifacts_sub"] = sorted(a.path for a in client.list_artifacts(run_id, "sub/dir"))
with tempfile.TemporaryDirectory() as d:
    local = client.download_artifacts(run_id, "sub/dir/notes.txt", d)
    out["download"] = open(local).read()
    local_dir = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="texts", dst_path=d)
    out["download_dir"] = sorted(os.listdir(local_dir))

try:
    client.get_run("0123456789abcdef0123456789abcdef")
    out["missing_run_error"] = None
except MlflowException as e:
    out["missing_run_error"] = e.error_code

# resume a finished run, as start_run(run_id=...) does
with mlflow.start_run(run_id=run_id):
    mlflow.log_metric("resumed", 1.0)
out["resumed_status"] = client.get_run(run_id).info.status
client.set_tag(run_id, "temp", "x")
client.delete_tag(run_id, "temp")
out["temp_gone"] = "temp" not in client.get_run(run_id).data.tags
client.set_experiment_tag(exp_id, "owner", "ana")
client.rename_experiment(exp_id, "roundtrip-renamed")
out["renamed"] = client.get_experiment(exp_id).name
out["exp_tag"] = client.get_experiment(exp_id).tags.get("owner")
out["experiments"] = sorted(e.name for e in client.search_experiments())
out["experiments_filtered"] = [e.name for e in client.search_experiments(filter_string="name LIKE 'round%'")]

out["run_id"] = run_id
out["run2_id"] = run2_id
client.delete_run(run2_id)
out["after_delete"] = len(client.search_runs([exp_id]))
from mlflow.entities import ViewType
out["all_view"] = len(client.search_runs([exp_id], run_view_type=ViewType.ALL))
client.restore_run(run2_id)
out["after_restore"] = len(client.search_runs([exp_id]))
paged = client.search_runs([exp_id], max_results=1)
out["paged"] = [len(paged), bool(paged.token)]
out["paged2"] = len(client.search_runs([exp_id], max_results=1, page_token=paged.token))
print("RESULT " + json.dumps(out))
