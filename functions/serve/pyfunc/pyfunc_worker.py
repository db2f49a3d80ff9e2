"""One pyfunc worker of `modelctl serve`: loads an MLflow model with mlflow.pyfunc.load_model and scores the
requests the Node front end passes it, with MLflow's own parsing and formatting (mlflow.pyfunc.scoring_server),
so the answers are those of `mlflow models serve` by construction.

    python pyfunc_worker.py <model dir>

Protocol (stdin -> requests, the original stdout -> answers): frames of
    [u32 big-endian header length][u32 big-endian body length][header: UTF-8 JSON][body: raw bytes]
Requests: {"id", "protocol": "mlflow"|"oip-v2"|"kserve-v1", "contentType"?} + the raw HTTP body.
Answers:  {"id", "status": 200} + the JSON response body, or {"id", "status", "error_code", "message"} + no body.
Batches (SERVE_PYFUNC_BATCHING=rows): {"batch": [request header + "size"], "floats"?} + the bodies back to back,
answered by {"batch": [{"status", "size" | "error_code", "message", "rows"?, "floats"?}]} + the 200 bodies back to
back (pyfunc_batch.py; "floats": write_batch).
The first frame the worker writes is {"ready": {...}} once the model is loaded, or {"fatal": "<one line>"}
before it exits 1. The model's own prints go to stderr: fd 1 is pointed there so they cannot corrupt a frame.
"""

import json
import os
import struct
import sys
import time
import traceback
import types

HEADER = struct.Struct(">II")


def open_channels():
    """The protocol's streams; fd 1 then goes to stderr (model code that prints must not corrupt frames)."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, out


def read_exact(stream, n):
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream):
    prefix = read_exact(stream, HEADER.size)
    if prefix is None:
        return None
    header_len, body_len = HEADER.unpack(prefix)
    header = json.loads(read_exact(stream, header_len) or b"{}")
    body = read_exact(stream, body_len) if body_len else b""
    return header, body


def write_frame(out, header, body=b""):
    head = json.dumps(header).encode("utf-8")
    out.write(HEADER.pack(len(head), len(body)) + head + body)


def first_line(text):
    return str(text).strip().split("\n")[0]


def model_requirements(model_dir):
    """The model's pip requirements: requirements.txt, else the pip section of conda.yaml (as MLflow reads them)."""
    from mlflow.utils.requirements_utils import _parse_requirements

    path = os.path.join(model_dir, "requirements.txt")
    if os.path.isfile(path):
        return [r.req_str for r in _parse_requirements(path, is_constraint=False)]
    conda = os.path.join(model_dir, "conda.yaml")
    if os.path.isfile(conda):
        import yaml

        with open(conda) as f:
            env = yaml.safe_load(f) or {}
        for dep in env.get("dependencies", []):
            if isinstance(dep, dict) and "pip" in dep:
                return [str(r) for r in dep["pip"]]
    return []


def check_requirements(model_dir, strict):
    """MLflow's own requirement check (the one load_model warns with), made a refusal for missing packages
    (and for other versions too when strict). Returns the mismatches that were let through."""
    from mlflow.utils.requirements_utils import _check_requirement_satisfied

    missing, mismatched = [], []
    for req in model_requirements(model_dir):
        info = _check_requirement_satisfied(req)
        if info is None:
            continue
        if info.installed_version is None:
            missing.append(f"{req} (not installed)")
        else:
            mismatched.append(f"{req} ({info.installed_version} installed)")
    refused = missing + (mismatched if strict else [])
    if refused:
        raise SystemExit(
            f"the model's requirements are not satisfied by {sys.executable}: {', '.join(refused)}; "
            "use an image that has them (modelctl:<version>-python has mlflow, scikit-learn, xgboost, lightgbm) "
            "or MODEL_ENV=install to build the model's environment once in the cache"
        )
    return mismatched


V2_DATATYPES = {
    "bool": "BOOL",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
COLUMN_V2 = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}


def v2_tensors(schema, prefix):
    """A signature schema as OIP v2 metadata tensors (names as MLServer's MLflow runtime gives them)."""
    if schema is None:
        return []
    from mlflow.types.schema import TensorSpec

    out = []
    for i, spec in enumerate(schema.inputs):
        name = spec.name or f"{prefix}-{i}"
        if isinstance(spec, TensorSpec):
            out.append({"name": name, "datatype": V2_DATATYPES.get(spec.type.name, "BYTES"), "shape": list(spec.shape)})
        else:
            out.append({"name": name, "datatype": COLUMN_V2.get(spec.type.name, "BYTES"), "shape": [-1, 1]})
    return out


class OneShotJson(types.ModuleType):
    """The `json` module as MLflow's scoring server sees it, but for `json.dump`, which writes what `json.dumps`
    returns. MLflow formats every answer with json.dump(predictions, stream, cls=NumpyEncoder), and json.dump
    always runs the stdlib's pure-Python encoder; json.dumps of the same object with the same arguments runs the
    C encoder (_json.make_encoder), which writes the same text: same float and int reprs, same escaping, the same
    NumpyEncoder.default calls and errors. At 100 rows of predict_proba that is ~1 ms of the ~5 ms a request costs.
    """

    def __init__(self):
        super().__init__("json")

    def __getattr__(self, name):
        return getattr(json, name)

    @staticmethod
    def dump(obj, fp, **kwargs):
        fp.write(json.dumps(obj, **kwargs))


class Worker:
    def __init__(self, model_dir):
        import mlflow.pyfunc
        from mlflow.pyfunc import scoring_server

        if scoring_server.json is json:
            scoring_server.json = OneShotJson()
        self.scoring = scoring_server
        # what `mlflow models serve` sets before it loads the model (models may read it)
        os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"
        self.model = scoring_server.load_model_with_mlflow_config(model_dir)
        self.input_schema = self.model.metadata.get_input_schema()
        self.takes_params = "params" in __import__("inspect").signature(self.model.predict).parameters

    def metadata(self):
        from pyfunc_batch import batches_by_default

        signature = self.model.metadata.signature
        return {
            "inputs": v2_tensors(signature.inputs if signature else None, "input"),
            "outputs": v2_tensors(signature.outputs if signature else None, "output"),
            "flavors": sorted(self.model.metadata.flavors.keys()),
            "rowwise": batches_by_default(self.model.metadata),
        }

    def answer(self, header, body):
        from mlflow.exceptions import MlflowException

        protocol = header.get("protocol")
        try:
            if protocol == "mlflow":
                return self.invocations(header, body)
            if protocol == "oip-v2":
                from pyfunc_v2 import infer

                return 200, infer(self, header, body, V2Error)
            if protocol == "kserve-v1":
                return 200, self.v1_predict(body)
            return error(400, "BAD_REQUEST", f"unknown protocol {protocol}")
        except MlflowException as e:
            return error(e.get_http_status_code(), e.error_code, e.message)
        except V2Error as e:
            return error(e.status, "BAD_REQUEST", str(e))

    def answer_safely(self, header, body):
        """answer(), with a failure that is not the request's (a bug of ours or of the model's loader) as a 500."""
        try:
            return self.answer(header, body)
        except Exception as e:
            traceback.print_exc()
            return error(500, "INTERNAL_ERROR", first_line(e))

    def invocations(self, header, body):
        result = self.scoring.invocations(body, header.get("contentType", "application/json"), self.model, self.input_schema)
        if result.status != 200:
            return error(result.status, "BAD_REQUEST", result.response)
        return 200, result.response.encode("utf-8")

    def predict(self, data, params=None):
        """model.predict as MLflow's scoring server calls it, with its error wording."""
        from mlflow.exceptions import MlflowException

        try:
            return self.call_predict(data, params)
        except MlflowException as e:
            e.message = f"Failed to predict data '{data}'. \nError: {e.message}"
            raise
        except Exception as e:
            raise MlflowException(
                "Encountered an unexpected error while evaluating the model. Verify that the serialized input "
                f"Dataframe is compatible with the model for inference. Error: {first_line(e)}",
                error_code="BAD_REQUEST",
            ) from e

    def v1_predict(self, body):
        data, params, finish = self.v1_parse(body)
        return finish(self.predict(data, params))

    def v1_parse(self, body):
        """KServe v1 `{"instances": [...]}`: MLflow's own TF-serving parser, its JSON formatting of the result."""
        from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj, parse_tf_serving_input

        try:
            doc = json.loads(body)
        except ValueError:
            raise V2Error(400, "request body is not valid JSON")
        if not isinstance(doc, dict) or not isinstance(doc.get("instances"), list):
            raise V2Error(400, 'the request must be {"instances": [...]}')
        data = parse_tf_serving_input({"instances": doc["instances"]}, schema=self.input_schema)

        def finish(prediction):
            predictions = _get_jsonable_obj(prediction, pandas_orient="records")
            return json.dumps({"predictions": predictions}, cls=NumpyEncoder).encode("utf-8")

        return data, doc.get("parameters"), finish

    def v2_parse(self, header, body):
        from pyfunc_v2 import parse

        return parse(self, header, body, V2Error)

    def call_predict(self, data, params):
        """model.predict exactly as MLflow's scoring server calls it (params only to a model that takes them)."""
        if self.takes_params:
            return self.model.predict(data, params=params)
        return self.model.predict(data)


class V2Error(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def error(status, code, message):
    return status, {"error_code": code, "message": str(message)}


def run_example(worker, model_dir):
    """Runs the saved serving input example as a POST /invocations (proves and warms the model)."""
    path = os.path.join(model_dir, "serving_input_example.json")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        body = f.read()
    started = time.perf_counter()
    status, result = worker.answer({"protocol": "mlflow", "contentType": "application/json"}, body)
    if status != 200:
        return {"refused": {"statusCode": status, "code": result["error_code"], "message": first_line(result["message"])}}
    return {"ms": (time.perf_counter() - started) * 1000}


def serve(stdin, out, worker):
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return  # the front end closed our stdin: recycle or shutdown
        header, body = frame
        if "batch" in header:
            write_batch(out, worker, header["batch"], body, header.get("floats", False))
            continue
        status, result = worker.answer_safely(header, body)
        if status == 200:
            write_frame(out, {"id": header.get("id"), "status": 200}, result)
        else:
            write_frame(out, {"id": header.get("id"), "status": status, **result})


def write_batch(out, worker, headers, body, raw_floats=False):
    """A batch frame: {"batch": [request header + "size"], "floats"?} + the bodies one after the other; answered
    with {"batch": [{"status", "size" | "error_code", "message", "rows"?, "floats"?}]} + the 200 bodies one after
    the other. With "floats" true a 200 body may be a float prediction's raw float64 values (the host's byte order:
    the front end runs beside; row after row) with "floats": its shape, for the front end to write as MLflow's JSON
    (pyfunc_batch.FloatRows)."""
    items, at = [], 0
    for header in headers:
        items.append((header, body[at : at + header["size"]]))
        at += header["size"]
    try:
        from pyfunc_batch import score_batch

        answers = score_batch(worker, items, raw_floats)
    except Exception as e:  # a bug of ours: every request of the batch learns it, the worker goes on
        traceback.print_exc()
        answers = [(*error(500, "INTERNAL_ERROR", first_line(e)), None)] * len(items)
    heads, bodies = [], []
    for status, result, rows in answers:
        head = {"status": status} if rows is None else {"status": status, "rows": rows}
        if status == 200:
            if not isinstance(result, bytes):  # FloatRows
                head["floats"] = result.shape
                result = result.data
            head["size"] = len(result)
            bodies.append(result)
        else:
            head.update(result)
        heads.append(head)
    write_frame(out, {"batch": heads}, b"".join(bodies))


def die_with_parent():
    """Linux: SIGKILL this worker when the front end dies, even while a predict call hangs."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker still exits when its stdin closes


def main():
    die_with_parent()
    # nothing phones home: MLflow's usage telemetry stays off in the workers
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    stdin, out = open_channels()
    model_dir = sys.argv[1]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import mlflow  # noqa: F401
    except ImportError as e:
        write_frame(
            out,
            {
                "fatal": f"{sys.executable} cannot import mlflow ({first_line(e)}): set SERVE_PYTHON to an interpreter "
                "with mlflow and the model's requirements (the modelctl:<version>-python image has one) "
                "or fetch with MODEL_ENV=install"
            },
        )
        sys.exit(1)
    try:
        mismatched = check_requirements(model_dir, os.environ.get("SERVE_REQUIREMENTS") == "strict")
        started = time.perf_counter()
        worker = Worker(model_dir)
        load_ms = (time.perf_counter() - started) * 1000
        example = run_example(worker, model_dir)
    except SystemExit as e:
        write_frame(out, {"fatal": str(e)})
        sys.exit(1)
    except BaseException as e:
        traceback.print_exc()
        write_frame(out, {"fatal": f"mlflow.pyfunc.load_model failed: {type(e).__name__}: {first_line(e)}"})
        sys.exit(1)
    ready = {**worker.metadata(), "pid": os.getpid(), "loadMs": load_ms, "example": example, "mismatched": mismatched}
    ready["python"] = sys.executable
    write_frame(out, {"ready": ready})
    serve(stdin, out, worker)


if __name__ == "__main__":
    main()
