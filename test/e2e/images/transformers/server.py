"""A small CPU text-generation server built on transformers: what `modelctl deploy --runtime custom` runs in the
end-to-end suite. It reads the model the way vLLM and TGI do under modelctl: from the Hugging Face cache the pod
mounts (HF_HUB_CACHE), offline (HF_HUB_OFFLINE=1), at the commit the warm plan resolved (MODEL_REVISION).

Environment (render-runtime.ts, the custom runtime's contract): MODEL_ID, MODEL_REVISION, SERVED_MODEL_NAME, PORT.
  GET  /health          200 once the model is loaded (the server listens only after loading)
  GET  /v1/models       {"data": [{"id": SERVED_MODEL_NAME, "root": MODEL_ID, "revision": …, "files": […]}]}
  POST /v1/completions  {"prompt": str, "max_tokens": int}: greedy decoding, {"choices": [{"text": …}], …}
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        sys.exit(f"transformers-server: {name} is required")
    return value


MODEL_ID = env("MODEL_ID")
REVISION = env("MODEL_REVISION", "main")
SERVED = os.environ.get("SERVED_MODEL_NAME") or MODEL_ID
PORT = int(env("PORT", "8080"))

started = time.time()
from transformers import AutoTokenizer, FlaxAutoModelForCausalLM  # noqa: E402 (the import takes seconds: timed)

tokenizer = AutoTokenizer.from_pretrained(MODEL_ID, revision=REVISION)
model = FlaxAutoModelForCausalLM.from_pretrained(MODEL_ID, revision=REVISION)
# the files transformers opened: where they came from shows in /v1/models (the snapshot of the node cache)
snapshot = getattr(model.config, "_name_or_path", "")
load_seconds = time.time() - started
print(
    json.dumps(
        {
            "msg": "model loaded",
            "model": MODEL_ID,
            "revision": REVISION,
            "hfHubCache": os.environ.get("HF_HUB_CACHE"),
            "offline": os.environ.get("HF_HUB_OFFLINE"),
            "seconds": round(load_seconds, 3),
        }
    ),
    flush=True,
)
generate_lock = Lock()


def complete(prompt: str, max_tokens: int) -> dict:
    ids = tokenizer(prompt, return_tensors="np")
    with generate_lock:
        out = model.generate(
            ids["input_ids"],
            attention_mask=ids["attention_mask"],
            max_new_tokens=max_tokens,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    new = out.sequences[0, ids["input_ids"].shape[1] :]
    return {
        "object": "text_completion",
        "model": SERVED,
        "choices": [{"index": 0, "text": tokenizer.decode(new, skip_special_tokens=True), "token_ids": new.tolist()}],
    }


class Handler(BaseHTTPRequestHandler):
    def send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self.send(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.send(
                200,
                {
                    "object": "list",
                    "data": [{"id": SERVED, "root": MODEL_ID, "revision": REVISION, "loadSeconds": load_seconds}],
                },
            )
        else:
            self.send(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/v1/completions":
            self.send(404, {"error": f"no route {self.path}"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            prompt = body["prompt"]
            max_tokens = int(body.get("max_tokens", 8))
            if not isinstance(prompt, str) or not 1 <= max_tokens <= 64:
                raise ValueError("prompt must be a string and max_tokens 1..64")
        except (KeyError, ValueError, json.JSONDecodeError) as err:
            self.send(400, {"error": f"bad request: {err}"})
            return
        self.send(200, complete(prompt, max_tokens))

    def log_message(self, format: str, *args) -> None:  # one JSON line per request on stdout, probes excepted
        if self.path != "/health":
            print(json.dumps({"msg": "request", "line": format % args}), flush=True)


# PID 1 of its container: without a handler SIGTERM is ignored and the pod lingers for the whole grace period
# (Knative sets it to the revision's timeoutSeconds) after a scale down
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
