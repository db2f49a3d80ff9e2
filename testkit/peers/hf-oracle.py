"""huggingface_hub as the oracle of the modelctl tests (driven by testkit/peers/hf-oracle.ts).

Reads one JSON request on stdin, prints one JSON answer on stdout. Requests ("op"):
  offline-check     {checks: [{repo, revision?, files?}]}: hf_hub_download(local_files_only=True) of each file
                    (default: every file of the snapshot), snapshot_download(local_files_only=True), scan_cache_dir()
  snapshot-download {endpoint, repo, revision?, token?, allow_patterns?, ignore_patterns?, max_workers?}
  hf-hub-download   {endpoint, repo, filename, revision?, token?}
  list-repo-tree    {endpoint, repo, revision?, path?, recursive?, token?}
  verify-checksums  {endpoint, repo, revision?, token?}: HfApi.verify_repo_checksums on the cache (hashes every
                    local file against the Hub's tree: git sha1 for regular files, sha256 for LFS files)
The cache is HF_HUB_CACHE (set by the caller); offline ops run with HF_HUB_OFFLINE=1.
Errors come back as {"type", "message", "status"} instead of raising.
"""

import hashlib
import json
import os
import sys
import time


def error_of(exc):
    response = getattr(exc, "response", None)
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "status": getattr(response, "status_code", None),
        "mro": [cls.__name__ for cls in type(exc).__mro__],
    }


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_under(folder):
    out = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            out.append(os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/"))
    return sorted(out)


def offline_check(req):
    from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

    cache = os.environ["HF_HUB_CACHE"]
    downloads, snapshots = [], []
    for check in req["checks"]:
        repo, revision = check["repo"], check.get("revision")
        snap = {"repo": repo, "revision": revision, "ok": False}
        try:
            folder = snapshot_download(repo, revision=revision, cache_dir=cache, local_files_only=True)
            snap.update(ok=True, snapshotPath=folder, files=files_under(folder))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            snap["error"] = error_of(exc)
        snapshots.append(snap)
        for name in check.get("files") or snap.get("files") or []:
            entry = {"repo": repo, "revision": revision, "path": name, "ok": False}
            try:
                got = hf_hub_download(repo, name, revision=revision, cache_dir=cache, local_files_only=True)
                entry.update(ok=True, resolvedPath=got, realPath=os.path.realpath(got), size=os.path.getsize(got), sha256=sha256_of(got))
            except Exception as exc:  # noqa: BLE001
                entry["error"] = error_of(exc)
            downloads.append(entry)
    return {"downloads": downloads, "snapshots": snapshots, "scan": scan(cache)}


def scan(cache):
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache)
    except Exception as exc:  # noqa: BLE001 - e.g. CacheNotFound
        return {"repos": [], "warnings": [], "error": error_of(exc)}
    repos = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        repos.append(
            {
                "repoId": repo.repo_id,
                "repoType": repo.repo_type,
                "sizeOnDisk": repo.size_on_disk,
                "nbFiles": repo.nb_files,
                "refs": {ref: rev.commit_hash for ref, rev in repo.refs.items()},
                "revisions": [
                    {
                        "commitHash": rev.commit_hash,
                        "refs": sorted(rev.refs),
                        "files": sorted(
                            (
                                {
                                    "path": os.path.relpath(str(f.file_path), str(rev.snapshot_path)).replace(os.sep, "/"),
                                    "blob": os.path.basename(str(f.blob_path)),
                                    "size": f.size_on_disk,
                                }
                                for f in rev.files
                            ),
                            key=lambda f: f["path"],
                        ),
                    }
                    for rev in sorted(repo.revisions, key=lambda r: r.commit_hash)
                ],
            }
        )
    return {"repos": repos, "warnings": [str(w) for w in info.warnings]}


def token_of(req):
    # False: never read a token from the machine (~/.cache/huggingface/token, HF_TOKEN)
    return req.get("token") or False


def snapshot(req):
    from huggingface_hub import snapshot_download

    start = time.monotonic()
    cpu_start = time.process_time()  # all threads of the process (snapshot_download's pool)
    try:
        folder = snapshot_download(
            req["repo"],
            revision=req.get("revision"),
            endpoint=req["endpoint"],
            cache_dir=os.environ["HF_HUB_CACHE"],
            token=token_of(req),
            allow_patterns=req.get("allow_patterns"),
            ignore_patterns=req.get("ignore_patterns"),
            max_workers=req.get("max_workers") or 8,
        )
        seconds = time.monotonic() - start
        cpu_seconds = time.process_time() - cpu_start
        return {"ok": True, "path": folder, "files": files_under(folder), "seconds": seconds, "cpu_seconds": cpu_seconds}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": error_of(exc), "seconds": time.monotonic() - start}


def download(req):
    from huggingface_hub import hf_hub_download

    try:
        got = hf_hub_download(
            req["repo"],
            req["filename"],
            revision=req.get("revision"),
            endpoint=req["endpoint"],
            cache_dir=os.environ["HF_HUB_CACHE"],
            token=token_of(req),
        )
        return {"ok": True, "path": got, "realPath": os.path.realpath(got), "sha256": sha256_of(got), "size": os.path.getsize(got)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": error_of(exc)}


def list_tree(req):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    try:
        api = HfApi(endpoint=req["endpoint"], token=token_of(req))
        entries = []
        for e in api.list_repo_tree(
            req["repo"], path_in_repo=req.get("path"), revision=req.get("revision"), recursive=bool(req.get("recursive"))
        ):
            item = {"type": "file" if isinstance(e, RepoFile) else "directory", "path": e.path}
            if isinstance(e, RepoFile):
                item.update(size=e.size, oid=e.blob_id, lfsSha256=e.lfs.sha256 if e.lfs else None)
            entries.append(item)
        return {"ok": True, "entries": entries}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": error_of(exc)}


def verify(req):
    from huggingface_hub import HfApi

    try:
        api = HfApi(endpoint=req["endpoint"], token=token_of(req))
        result = api.verify_repo_checksums(req["repo"], revision=req.get("revision"), cache_dir=os.environ["HF_HUB_CACHE"])
        return {
            "ok": True,
            "revision": result.revision,
            "checkedCount": result.checked_count,
            "mismatches": [dict(m) for m in result.mismatches],
            "missingPaths": sorted(result.missing_paths),
            "extraPaths": sorted(result.extra_paths),
        }
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": error_of(exc)}


OPS = {
    "offline-check": offline_check,
    "snapshot-download": snapshot,
    "hf-hub-download": download,
    "list-repo-tree": list_tree,
    "verify-checksums": verify,
}


def main():
    req = json.load(sys.stdin)
    result = OPS[req["op"]](req)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
