# Reads a sweep's runs through the real MLflow client: the parent run and
# the children MLflow finds as nested under it (tag mlflow.parentRunId,
# which the MLflow UI uses to fold child runs under their parent).
import json
import sys

from mlflow.tracking import MlflowClient

parent_id = sys.argv[1]
client = MlflowClient()
parent = client.get_run(parent_id)
exp = parent.info.experiment_id
children = client.search_runs(
    [exp], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000
)
print("RESULT " + json.dumps({
    "parent_name": parent.info.run_name,
    "parent_status": parent.info.status,
    "parent_best": parent.data.metrics.get("best_score"),
    "children": sorted(r.info.run_id for r in children),
    "child_parents": sorted({r.data.tags.get("mlflow.parentRunId") for r in children}),
    "child_names": sorted(r.info.run_name for r in children),
}))
