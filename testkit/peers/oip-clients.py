"""Drives a server with the real Open Inference Protocol clients and prints what they saw, as one JSON line.

    python oip-clients.py triton-http  HOST:PORT MODEL REQUEST_JSON
    python oip-clients.py triton-grpc  HOST:PORT MODEL REQUEST_JSON
    python oip-clients.py kserve-rest  http://HOST:PORT MODEL REQUEST_JSON

REQUEST_JSON: {"inputs": [{"name", "datatype", "shape", "data": flat list}], "outputs": [names]}.
Each client sends the inputs as binary tensor data (their default) and asks for the outputs as binary data, then
again as JSON (tritonclient HTTP: binary_data=False on both sides); gRPC sends raw_input_contents. Outputs are
printed as flat lists with their datatype and shape. tritonclient.grpc and kserve register the same protobuf names,
so each mode imports only its own client.
"""

import asyncio
import json
import sys

import numpy as np

NUMPY = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def as_array(spec):
    return np.array(spec["data"], dtype=NUMPY[spec["datatype"]]).reshape(spec["shape"])


def described(name, array, datatype):
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def triton(module, url, model, request):
    client = module.InferenceServerClient(url=url)
    meta = client.get_model_metadata(model)
    if not isinstance(meta, dict):  # gRPC answers a protobuf message
        from google.protobuf.json_format import MessageToDict

        meta = MessageToDict(meta, preserving_proto_field_name=True)
    seen = {"live": client.is_server_live(), "ready": client.is_model_ready(model), "metadata": meta}
    for binary in (True, False):
        inputs = []
        for spec in request["inputs"]:
            tensor = module.InferInput(spec["name"], spec["shape"], spec["datatype"])
            if module.__name__.endswith("http"):
                tensor.set_data_from_numpy(as_array(spec), binary_data=binary)
            else:
                tensor.set_data_from_numpy(as_array(spec))
            inputs.append(tensor)
        if module.__name__.endswith("http"):
            outputs = [module.InferRequestedOutput(n, binary_data=binary) for n in request["outputs"]]
        else:
            outputs = [module.InferRequestedOutput(n) for n in request["outputs"]]
        result = client.infer(model, inputs, outputs=outputs, request_id="req-7")
        response = result.get_response()
        if not isinstance(response, dict):
            from google.protobuf.json_format import MessageToDict

            response = MessageToDict(response, preserving_proto_field_name=True)
        by_name = {o["name"]: o for o in response["outputs"]}
        seen["binary" if binary else "json"] = {
            "id": response.get("id"),
            "outputs": [described(n, result.as_numpy(n), by_name[n]["datatype"]) for n in request["outputs"]],
        }
        if not module.__name__.endswith("http"):
            break  # gRPC has one encoding
    # no requested outputs: tritonclient HTTP then asks for every output as binary data (binary_data_output)
    inputs = []
    for spec in request["inputs"]:
        tensor = module.InferInput(spec["name"], spec["shape"], spec["datatype"])
        tensor.set_data_from_numpy(as_array(spec))
        inputs.append(tensor)
    result = client.infer(model, inputs)
    seen["all_outputs"] = sorted(o["name"] for o in _outputs_of(result))
    return seen


def _outputs_of(result):
    response = result.get_response()
    if isinstance(response, dict):
        return response["outputs"]
    return [{"name": o.name} for o in response.outputs]


async def kserve_rest(url, model, request):
    from kserve import InferenceRESTClient, InferInput, InferRequest
    from kserve.protocol.infer_type import RequestedOutput
    from kserve.inference_client import RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    inputs = []
    for spec in request["inputs"]:
        tensor = InferInput(spec["name"], spec["shape"], spec["datatype"])
        tensor.set_data_from_numpy(as_array(spec), binary_data=True)
        inputs.append(tensor)
    outputs = [RequestedOutput(n, parameters={"binary_data": True}) for n in request["outputs"]]
    req = InferRequest(model_name=model, infer_inputs=inputs, request_id="req-7", request_outputs=outputs)
    res = await client.infer(url, req, model_name=model)
    by_name = {o.name: o for o in res.outputs}
    return {
        "binary": {
            "id": res.id,
            "outputs": [described(n, by_name[n].as_numpy(), by_name[n].datatype) for n in request["outputs"]],
        }
    }


def main():
    mode, url, model, request_json = sys.argv[1:5]
    request = json.loads(request_json)
    if mode == "triton-http":
        import tritonclient.http as module

        seen = triton(module, url, model, request)
    elif mode == "triton-grpc":
        import tritonclient.grpc as module

        seen = triton(module, url, model, request)
    elif mode == "kserve-rest":
        seen = asyncio.run(kserve_rest(url, model, request))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(seen, default=str))


if __name__ == "__main__":
    main()
