"""Open Inference Protocol v2 for the pyfunc worker, with the conversions MLServer's MLflow runtime makes:
the model's signature picks the request codec (column schema or none: a pandas DataFrame, one column per input;
one unnamed tensor: a numpy array; named tensors: a dict of arrays), and the prediction is encoded by its type
(DataFrame: one output per column; dict: one output per key; anything else: one array named `output-1`).
"""

import json

import numpy as np

DTYPES = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
DATATYPES = {np.dtype(v).name: k for k, v in DTYPES.items()}


def infer(worker, header, body, V2Error):
    decoded, params, finish = parse(worker, header, body, V2Error)
    return finish(worker.predict(decoded, params))


def parse(worker, header, body, V2Error):
    """The request as the model's input and params, and the function that turns its prediction into the answer."""
    request = parse_request(body, V2Error)
    decoded = decode(worker.input_schema, request["inputs"], V2Error)
    params = {k: v for k, v in (request.get("parameters") or {}).items() if k != "content_type"} or None

    def finish(prediction):
        # every output, whatever the request's `outputs` names, as MLServer's MLflow runtime answers: its names
        # for an unnamed prediction (`output-1`) are not the metadata's (`output-0`), so a filter by the names a
        # client read from the metadata answered nothing
        answer = {"model_name": header.get("model", ""), "outputs": encode(prediction)}
        if "id" in request:
            answer["id"] = request["id"]
        return json.dumps(answer).encode("utf-8")

    return decoded, params, finish


def parse_request(body, V2Error):
    try:
        doc = json.loads(body)
    except ValueError:
        raise V2Error(400, "request body is not valid JSON")
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise V2Error(400, "invalid inference request: inputs: expected a non-empty array")
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or not all(k in item for k in ("name", "shape", "datatype", "data")):
            raise V2Error(400, f"invalid inference request: inputs.{i}: needs name, shape, datatype and data")
    return doc


def to_array(item, V2Error):
    """One request input as a numpy array of its shape (BYTES: an object array of str)."""
    datatype = item["datatype"]
    data = np.asarray(item["data"], dtype=object).reshape(-1) if datatype == "BYTES" else item["data"]
    try:
        if datatype == "BYTES":
            values = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in data], dtype=object)
        elif datatype in DTYPES:
            values = np.asarray(data, dtype=DTYPES[datatype]).reshape(-1)
        else:
            raise V2Error(400, f"input {item['name']} has unknown datatype {datatype}")
        return values.reshape(item["shape"])
    except (ValueError, TypeError) as e:
        raise V2Error(400, f"input {item['name']}: {e}")


def decode(schema, inputs, V2Error):
    if schema is not None and schema.is_tensor_spec():
        if not schema.has_input_names():
            return to_array(inputs[0], V2Error)
        return {item["name"]: to_array(item, V2Error) for item in inputs}
    import pandas as pd

    columns = {}
    for item in inputs:
        values = to_array(item, V2Error)
        # a [N, 1] column is a column of N values
        columns[item["name"]] = list(values.reshape(values.shape[0], -1)[:, 0]) if values.ndim == 2 and values.shape[1] == 1 else list(values)
    return pd.DataFrame(columns)


def encode(prediction):
    import pandas as pd

    if isinstance(prediction, pd.DataFrame):
        return [output(str(name), prediction[name].to_numpy(), column=True) for name in prediction.columns]
    if isinstance(prediction, dict):
        return [output(str(name), np.asarray(value)) for name, value in prediction.items()]
    if isinstance(prediction, pd.Series):
        prediction = prediction.to_numpy()
    return [output("output-1", np.asarray(prediction))]


def inject_batch_dimension(shape):
    return shape if len(shape) > 1 else shape + [1]


def output(name, array, column=False):
    # a column, or a tensor of one dimension, is [N, 1]: MLServer's codecs add the dimension
    # (mlserver.codecs.utils.inject_batch_dimension), so a regressor's or classifier's 1-D prediction is [N, 1]
    shape = [len(array), 1] if column else inject_batch_dimension(list(array.shape))
    if array.dtype.kind in ("U", "S", "O"):
        data = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
        return {"name": name, "datatype": "BYTES", "shape": shape, "data": data}
    datatype = DATATYPES.get(array.dtype.name)
    if datatype is None:
        array = array.astype("float64")
        datatype = "FP64"
    data = array.reshape(-1).tolist()
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}
