"""Builds the bundled example models: scikit-learn -> skl2onnx (zipmap=False) -> mlflow.onnx.save_model.

    python examples/make-example-model.py examples/models

Writes (replacing) two MLflow model folders with the onnx flavor, a tensor signature and a saved input example:
  iris/   LogisticRegression on the iris data set: outputs `label` (int64) and `probabilities` (float32)
  dense/  an MLP regressor on 256 features, large enough that one call on a batch of 128 rows
          takes over a millisecond of onnxruntime (the benchmarks' heavier model)
Deterministic: fixed seeds, so re-running it gives the same predictions.
"""

import shutil
import sys
from pathlib import Path

import mlflow.onnx
import numpy as np
import onnxruntime as ort
from mlflow.models import infer_signature
from skl2onnx import to_onnx
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPRegressor


def save(model, sample: np.ndarray, target: Path) -> None:
    # zipmap=False: onnxruntime-node (and modelctl serve) only handle tensor outputs
    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    onnx_model = to_onnx(model, sample[:1], options=options, target_opset=17)
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: sample[:3]})
    names = [o.name for o in session.get_outputs()]
    signature = infer_signature(sample[:3], dict(zip(names, outputs)))
    if target.exists():
        shutil.rmtree(target)
    mlflow.onnx.save_model(onnx_model, str(target), input_example=sample[:3], signature=signature)
    print(f"wrote {target}")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/models")
    out.mkdir(parents=True, exist_ok=True)

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    iris = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    save(iris, x, out / "iris")

    x, y = make_regression(n_samples=2000, n_features=256, random_state=0)
    x = x.astype(np.float32)
    dense = MLPRegressor(hidden_layer_sizes=(768, 768), max_iter=20, random_state=0).fit(x, y)
    save(dense, x, out / "dense")


if __name__ == "__main__":
    main()
