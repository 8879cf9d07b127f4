# Logs dataset inputs with the real, unmodified mlflow client
# (mlflow.log_input) and reads them back. argv[1] is the JSON job the Go
# test wrote: a CSV Tern imported as a dataset version, and that version's
# digest. Prints one JSON object (after "RESULT ").
import json
import sys

import pandas as pd

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

job = json.load(open(sys.argv[1]))
client = MlflowClient()
df = pd.read_csv(job["csv"])
out = {}

mlflow.set_experiment("inputs")
with mlflow.start_run() as run:
    out["run_id"] = run.info.run_id
    # The dataset Tern holds, named by (the start of) its digest.
    train = mlflow.data.from_pandas(df, source=job["csv"], name="customers", targets="churned", digest=job["digest"][:12])
    mlflow.log_input(train, context="training")
    # The same dataset again, with another context: one input, tags merged.
    mlflow.log_input(train, context="validation")
    # A dataset Tern never saw: recorded, linked to nothing.
    other = mlflow.data.from_pandas(df.head(5), name="sample")
    mlflow.log_input(other, context="eval")
    out["other_digest"] = other.digest

r = client.get_run(out["run_id"])
out["inputs"] = [
    {
        "name": d.dataset.name,
        "digest": d.dataset.digest,
        "source_type": d.dataset.source_type,
        "source": d.dataset.source,
        "has_schema": bool(d.dataset.schema),
        "has_profile": bool(d.dataset.profile),
        "tags": {t.key: t.value for t in d.tags},
    }
    for d in r.inputs.dataset_inputs
]

# A run that does not exist is MLflow's RESOURCE_DOES_NOT_EXIST.
try:
    client.log_inputs("0" * 32, datasets=[])
    out["missing_run"] = ""
except MlflowException as e:
    out["missing_run"] = e.error_code
print("RESULT " + json.dumps(out))
