"""Train the benchmark GBDT: XGBoost, 100 trees of depth 6 on 20,000 rows x
10 features, saved as JSON (the file both Tern and the peer serve), plus a
one-row request body in MLflow's dataframe_split form."""
import json
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(42)
X = rng.normal(size=(20000, 10))
y = (X[:, 0] * 2 - X[:, 1] + X[:, 2] * X[:, 3] + rng.normal(scale=0.3, size=20000) > 0).astype(int)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 2}, xgb.DMatrix(X, label=y), 100)
booster.save_model(f"{out}/model.json")
cols = [f"f{i}" for i in range(10)]
row = [round(float(v), 6) for v in X[0]]
json.dump({"dataframe_split": {"columns": cols, "data": [row]}}, open(f"{out}/request.json", "w"))
# The reference prediction, to check both servers answer the same.
print(float(booster.inplace_predict(np.asarray([row], dtype=np.float32))[0]))
