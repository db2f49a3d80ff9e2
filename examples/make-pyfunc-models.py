"""Builds the bundled example models that `modelctl serve` runs through MLflow's pyfunc (SERVE_RUNTIME=auto picks
it for any model without the onnx flavor):

    python examples/make-pyfunc-models.py examples/models

  iris-sklearn/    LogisticRegression logged with mlflow.sklearn, predicting class probabilities
                   (pyfunc_predict_fn="predict_proba"), a column signature a, b, c, d (double)
  custom-pyfunc/   an mlflow.pyfunc.PythonModel with params (scale: double, greeting: string), a string column,
                   and an optional column: predicts {score, message} per row
Deterministic: fixed seeds and data, so re-running it gives the same predictions.
"""

import shutil
import sys
from pathlib import Path

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from mlflow.models.signature import ModelSignature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


class ScoreAndGreet(mlflow.pyfunc.PythonModel):
    """score = (x + y) * scale (a missing y counts 0); message = "<greeting>, <name>"."""

    def predict(self, context, model_input, params=None):
        params = params or {}
        scale = float(params.get("scale", 1.0))
        greeting = str(params.get("greeting", "hello"))
        y = model_input["y"] if "y" in model_input else 0.0
        y = pd.Series(y, index=model_input.index).fillna(0.0)
        return pd.DataFrame(
            {
                "score": (model_input["x"].astype("float64") + y) * scale,
                "message": [f"{greeting}, {name}" for name in model_input["name"]],
            }
        )


def replace(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)


def iris_sklearn(out: Path) -> None:
    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = ["a", "b", "c", "d"]
    model = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    sample = x.iloc[:3]
    signature = infer_signature(sample, model.predict_proba(sample))
    target = out / "iris-sklearn"
    replace(target)
    mlflow.sklearn.save_model(
        model,
        str(target),
        signature=signature,
        input_example=sample,
        pyfunc_predict_fn="predict_proba",
        serialization_format="cloudpickle",
    )
    print(f"wrote {target}")


def custom_pyfunc(out: Path) -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "name"), ColSpec("double", "x"), ColSpec("double", "y", required=False)]),
        outputs=Schema([ColSpec("double", "score"), ColSpec("string", "message")]),
        params=ParamSchema([ParamSpec("scale", "double", 1.0), ParamSpec("greeting", "string", "hello")]),
    )
    example = pd.DataFrame({"name": ["ada", "alan"], "x": [1.5, 2.0], "y": [0.5, 1.0]})
    target = out / "custom-pyfunc"
    replace(target)
    mlflow.pyfunc.save_model(
        str(target),
        python_model=ScoreAndGreet(),
        signature=signature,
        input_example=(example, {"scale": 2.0}),
        pip_requirements=[f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}", f"numpy=={np.__version__}"],
    )
    print(f"wrote {target}")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/models")
    out.mkdir(parents=True, exist_ok=True)
    iris_sklearn(out)
    custom_pyfunc(out)


if __name__ == "__main__":
    main()
