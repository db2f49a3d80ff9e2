#!/usr/bin/env python3
"""Writes a one-layer image FROM scratch as a docker-archive tarball (what `ctr images import` and `docker load`
read), without a container engine: no registry is reachable here and a static binary needs no base image.

  oci-archive.py --tag dev.local/x:1 --out x.tar --user 65532 --entrypoint /ko-app/x [--env K=V]… SRC:DEST…

Each SRC file lands at DEST (mode kept); /tmp is added (1777). Timestamps are zeroed so the same inputs give the
same image id."""
import argparse
import hashlib
import io
import json
import os
import tarfile


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tag", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--user", default="65532")
    p.add_argument("--entrypoint", required=True, action="append")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--workdir", default="/")
    p.add_argument("files", nargs="+", help="SRC:DEST")
    a = p.parse_args()

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = {"tmp"}
        for spec in a.files:
            _, dest = spec.split(":", 1)
            parts = dest.strip("/").split("/")[:-1]
            for i in range(len(parts)):
                dirs.add("/".join(parts[: i + 1]))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        for spec in a.files:
            src, dest = spec.split(":", 1)
            info = tarfile.TarInfo(dest.strip("/"))
            info.size = os.path.getsize(src)
            info.mode = os.stat(src).st_mode & 0o7777
            with open(src, "rb") as f:
                t.addfile(info, f)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()

    env = ["PATH=/usr/local/bin:/usr/bin:/bin"] + a.env
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": a.user, "Entrypoint": a.entrypoint, "Env": env, "WorkingDir": a.workdir},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created_by": "modelctl cluster/images/oci-archive.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": config_id + ".json", "RepoTags": [a.tag], "Layers": [diff_id + "/layer.tar"]}]

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, data in (
            (diff_id + "/layer.tar", layer_bytes),
            (config_id + ".json", config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
