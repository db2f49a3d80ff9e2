"""Seeds an MLflow tracking server for the fetch integration tests and prints what it made as JSON.

usage: fetch-seed-mlflow.py <tracking-uri> <model-name> [<big-file-mb>]
Creates: two registered versions of an ONNX iris classifier (skl2onnx, zipmap=False) logged by
mlflow.onnx.log_model; alias "champion" -> version 1; version 2 in stage "Production"; optionally a third
version whose model folder carries an extra <big-file-mb> MB file (for interrupted-download tests).
Credentials, if any, come from MLFLOW_TRACKING_USERNAME/PASSWORD in the environment.
"""
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")

import mlflow
import numpy as np
from mlflow import MlflowClient
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

uri, name = sys.argv[1], sys.argv[2]
big_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 0
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("fetch-tests")
client = MlflowClient()

X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)


def log_version(c, extra_file_mb=0):
    clf = LogisticRegression(C=c, max_iter=500).fit(X, y)
    onx = to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}})
    with mlflow.start_run() as run:
        extra = []
        if extra_file_mb:
            d = tempfile.mkdtemp()
            p = os.path.join(d, "padding.bin")
            with open(p, "wb") as f:
                for _ in range(extra_file_mb):
                    f.write(os.urandom(1024 * 1024))
            extra = [p]
        info = mlflow.onnx.log_model(
            onx, name="model", registered_model_name=name, input_example=X[:2], extra_files=extra or None
        )
        return {"run_id": run.info.run_id, "model_id": info.model_id, "version": info.registered_model_version,
                "artifact_uri": info.artifact_path if hasattr(info, "artifact_path") else None,
                "model_uri": info.model_uri}


out = {"name": name, "versions": []}
out["versions"].append(log_version(1.0))
out["versions"].append(log_version(0.5))
client.set_registered_model_alias(name, "champion", out["versions"][0]["version"])
client.transition_model_version_stage(name, out["versions"][1]["version"], "Production")
if big_mb:
    out["versions"].append(log_version(0.25, big_mb))
print(json.dumps(out))
