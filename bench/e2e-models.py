"""The two models of `make bench-e2e` (bench/cold-start-e2e.ts), as MLflow model directories, and their logging
into the cluster's MLflow tracking server.

  tiny       the iris ONNX example (examples/models/iris, 1 KiB), copied as it is
  embed-1g   an embedding lookup: Gather over a [1048576, 256] float32 initializer (exactly 1 GiB of random
             weights, seeded), input `ids` int64 [-1], output `embedding` float32 [-1, 256]. The weights are
             inside model.onnx (no external data), as most exporters write a model under 2 GiB: onnxruntime
             alone would read and parse all of it; serve maps them from the file (functions/serve/map-onnx-weights.ts).

Usage:
  python e2e-models.py save --work-dir DIR
      writes DIR/tiny and DIR/embed-1g (kept when DIR/<name>/MLmodel is already there) and prints
      {"<name>": {"dir", "bytes"}} as one JSON line
  python e2e-models.py log --work-dir DIR --tracking-uri URL
      logs each directory as run artifacts (runs:/<run>/model) and registers it as bench-e2e-<name> version 1
      (a new version when the name exists); prints {"<name>": {"dir", "bytes", "modelUri", "runId"}}
"""

import argparse
import json
import os
import shutil
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import mlflow.onnx  # noqa: E402
import onnx  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.models import ModelSignature  # noqa: E402
from mlflow.types.schema import Schema, TensorSpec  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ROWS = 1 << 20
DIM = 256
EXPERIMENT = "modelctl-bench-e2e"
PIP_REQUIREMENTS = ["mlflow==" + mlflow.__version__, "onnx", "onnxruntime"]


def log(msg):
    print(f"e2e-models: {msg}", file=sys.stderr, flush=True)


def dir_bytes(root):
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


def embedding_model():
    started = time.monotonic()
    weights = np.random.default_rng(17).standard_normal((ROWS, DIM), dtype=np.float32)
    table = numpy_helper.from_array(weights, "table")
    del weights
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["embedding"], axis=0)],
        "embedding_lookup",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, DIM])],
        initializer=[table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="modelctl-bench")
    model.ir_version = 8
    log(f"embedding table {ROWS}x{DIM} float32 built in {time.monotonic() - started:.1f} s")
    return model


def save_models(work_dir):
    os.makedirs(work_dir, exist_ok=True)
    out = {}
    tiny = os.path.join(work_dir, "tiny")
    if not os.path.exists(os.path.join(tiny, "MLmodel")):
        shutil.rmtree(tiny, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, "examples", "models", "iris"), tiny)
    out["tiny"] = {"dir": tiny, "bytes": dir_bytes(tiny)}
    big = os.path.join(work_dir, "embed-1g")
    if not os.path.exists(os.path.join(big, "MLmodel")):
        partial = big + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(big, ignore_errors=True)
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.int64), (-1,), "ids")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, DIM), "embedding")]),
        )
        started = time.monotonic()
        mlflow.onnx.save_model(
            embedding_model(),
            partial,
            signature=signature,
            input_example=np.array([0, 1, ROWS - 1], dtype=np.int64),
            pip_requirements=PIP_REQUIREMENTS,
            save_as_external_data=False,
        )
        os.rename(partial, big)
        log(f"embed-1g saved in {time.monotonic() - started:.1f} s")
    onnx_file = os.path.join(big, "model.onnx")
    if os.path.getsize(onnx_file) < (1 << 30):
        raise RuntimeError(f"{onnx_file} is smaller than 1 GiB")
    out["embed-1g"] = {"dir": big, "bytes": dir_bytes(big)}
    return out


def log_models(saved, tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    client = MlflowClient()
    for name, entry in saved.items():
        registered = f"bench-e2e-{name}"
        started = time.monotonic()
        with mlflow.start_run(run_name=registered) as run:
            mlflow.log_artifacts(entry["dir"], artifact_path="model")
        if not client.search_registered_models(filter_string=f"name = '{registered}'"):
            client.create_registered_model(registered)
        source = f"{client.get_run(run.info.run_id).info.artifact_uri}/model"
        version = client.create_model_version(registered, source, run_id=run.info.run_id)
        entry.update({"modelUri": f"models:/{registered}/{version.version}", "runId": run.info.run_id})
        log(f"{name}: logged and registered as {entry['modelUri']} in {time.monotonic() - started:.1f} s")
    return saved


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["save", "log"])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--tracking-uri")
    args = parser.parse_args()
    saved = save_models(args.work_dir)
    if args.command == "log":
        if not args.tracking_uri:
            parser.error("log needs --tracking-uri")
        saved = log_models(saved, args.tracking_uri)
    print(json.dumps(saved))


if __name__ == "__main__":
    main()
