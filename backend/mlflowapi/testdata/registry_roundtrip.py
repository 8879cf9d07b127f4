# Drives Tern's Model Registry API with the real, unmodified mlflow client:
# log a scikit-learn model with registered_model_name, register it again
# from runs:/, move aliases, tag, search, download and load it with pyfunc.
# MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN come from the Go test.
# Prints one JSON object (after "RESULT ") that the Go test checks.
import json
import os
import tempfile

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

out = {}
client = MlflowClient()


def code(fn):
    try:
        fn()
        return None
    except MlflowException as e:
        return e.error_code


rng = np.random.default_rng(7)
X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
y = (X["a"] + 0.5 * X["b"] - X["c"] > 0).astype(int)
clf = LogisticRegression().fit(X, y)

mlflow.set_experiment("registry")
with mlflow.start_run() as run:
    run_id = run.info.run_id
    info = mlflow.sklearn.log_model(clf, name="model", registered_model_name="churn", input_example=X.head(3))
out["run_id"] = run_id
out["logged_version"] = info.registered_model_version
out["model_id"] = info.model_id

# the logged model, as MLflow 3 reads it back
lm = client.get_logged_model(info.model_id)
out["logged_status"] = str(lm.status)
out["logged_run"] = lm.source_run_id
found = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'model'")
out["logged_found"] = [m.model_id for m in found]

# a second version from the run, the way MLflow 2 scripts register
v2 = mlflow.register_model(f"runs:/{run_id}/model", "churn")
out["v2"] = v2.version

# registered model create/get/update/tags, duplicates and misses
out["dup_model"] = code(lambda: client.create_registered_model("churn"))
out["missing_model"] = code(lambda: client.get_registered_model("nope"))
client.update_registered_model("churn", description="who leaves")
client.set_registered_model_tag("churn", "team", "growth")
client.set_model_version_tag("churn", "1", "validated", "yes")
client.update_model_version("churn", "2", description="retrained")

# aliases
client.set_registered_model_alias("churn", "champion", "1")
client.set_registered_model_alias("churn", "challenger", v2.version)
client.set_registered_model_alias("churn", "challenger", "1")
client.delete_registered_model_alias("churn", "challenger")
champ = client.get_model_version_by_alias("churn", "champion")
out["champion"] = champ.version
out["champion_tags"] = champ.tags
out["missing_alias"] = code(lambda: client.get_model_version_by_alias("churn", "challenger"))
rm = client.get_registered_model("churn")
out["model"] = {"description": rm.description, "tags": rm.tags, "aliases": rm.aliases,
                "latest": [v.version for v in rm.latest_versions]}

# search
out["versions"] = [(v.name, v.version, v.run_id) for v in client.search_model_versions("name = 'churn'", order_by=["version_number ASC"])]
out["versions_by_tag"] = [v.version for v in client.search_model_versions("name='churn' AND tags.validated = 'yes'")]
client.create_registered_model("fraud-a", tags={"team": "risk"})
client.create_registered_model("fraud-b", description="second")
out["models_like"] = [m.name for m in client.search_registered_models(filter_string="name LIKE 'fraud%'", order_by=["name DESC"])]
out["models_by_tag"] = [m.name for m in client.search_registered_models(filter_string="tags.team = 'risk'")]
out["bad_filter"] = code(lambda: client.search_registered_models(filter_string="name >>> 'x'"))
page1 = client.search_registered_models(max_results=2)
page2 = client.search_registered_models(max_results=2, page_token=page1.token)
out["pages"] = [[m.name for m in page1], [m.name for m in page2]]

# rename and delete
client.rename_registered_model("fraud-b", "fraud-c")
out["renamed"] = client.get_registered_model("fraud-c").description
client.delete_registered_model("fraud-a")
out["after_delete"] = sorted(m.name for m in client.search_registered_models())
out["stage_refused"] = code(lambda: client.transition_model_version_stage("churn", "1", "Production"))

# download by alias and load with pyfunc
out["download_uri"] = client.get_model_version_download_uri("churn", "1")
with tempfile.TemporaryDirectory() as d:
    local = mlflow.artifacts.download_artifacts("models:/churn@champion", dst_path=d)
    out["downloaded"] = sorted(os.listdir(local))
model = mlflow.pyfunc.load_model("models:/churn@champion")
pred = model.predict(X.head(20))
out["pred_equal"] = bool((np.asarray(pred) == clf.predict(X.head(20))).all())
out["pred_n"] = len(pred)

# a version deleted goes from the search
client.delete_model_version("churn", "2")
out["after_version_delete"] = [v.version for v in client.search_model_versions("name = 'churn'")]

print("RESULT " + json.dumps(out))
