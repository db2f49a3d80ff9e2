"""A contender of bench/download.ts: hf_transfer, the Rust downloader, the way huggingface_hub < 1.0 drove it
with HF_HUB_ENABLE_HF_TRANSFER=1 (huggingface_hub 1.x and later ignore that variable and no longer call it).

Per file, as huggingface_hub 0.x's snapshot_download + hf_hub_download did: `get_hf_file_metadata` (HEAD; the
etag and the final URL, the CDN's for LFS files), then `hf_transfer.download` of that URL in parallel 10 MiB ranges
(max_files=100, chunk_size=DOWNLOAD_CHUNK_SIZE, parallel_failures=3, max_retries=5, as file_download.http_get
passed them) into `blobs/{etag}.incomplete`, renamed to `blobs/{etag}`, linked from `snapshots/{commit}/`.
`max_workers` files at a time (snapshot_download's thread pool). No hash is checked: huggingface_hub never did.

stdin: {"endpoint", "repo", "commit", "files": [...], "cache_dir", "max_workers"}
stdout (last line): {"ok": true, "seconds": ..., "cpu_seconds": ...} timed inside Python (interpreter start and imports
excluded; cpu_seconds: user + system of all the process's threads),
or {"ok": false, "error": "..."}
"""

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HF_TRANSFER_CONCURRENCY = 100
DOWNLOAD_CHUNK_SIZE = 10 * 1024 * 1024


def fetch_one(req, filename):
    import hf_transfer
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(req["repo"], filename, revision=req["commit"], endpoint=req["endpoint"])
    meta = get_hf_file_metadata(url, token=False, endpoint=req["endpoint"], retry_on_errors=True)
    repo_dir = os.path.join(req["cache_dir"], "models--" + req["repo"].replace("/", "--"))
    blob = os.path.join(repo_dir, "blobs", meta.etag)
    link = os.path.join(repo_dir, "snapshots", req["commit"], filename)
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    hf_transfer.download(
        url=meta.location,
        filename=blob + ".incomplete",
        max_files=HF_TRANSFER_CONCURRENCY,
        chunk_size=DOWNLOAD_CHUNK_SIZE,
        headers={"user-agent": "hf-transfer-bench"},
        parallel_failures=3,
        max_retries=5,
    )
    os.replace(blob + ".incomplete", blob)
    os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
    return os.path.getsize(blob)


def main():
    req = json.load(sys.stdin)
    import hf_transfer  # noqa: F401  (imported before the clock starts, as huggingface_hub did at import)
    import huggingface_hub  # noqa: F401

    start = time.monotonic()
    cpu_start = time.process_time()  # every thread of the process: Python's and hf_transfer's (tokio)
    try:
        with ThreadPoolExecutor(max_workers=req.get("max_workers") or 8) as pool:
            sizes = list(pool.map(lambda f: fetch_one(req, f), req["files"]))
        result = {
            "ok": True,
            "seconds": time.monotonic() - start,
            "cpu_seconds": time.process_time() - cpu_start,
            "bytes": sum(sizes),
        }
    except Exception as exc:  # noqa: BLE001
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - start}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
