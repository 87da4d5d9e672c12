#!/usr/bin/env bash
# Build the runner image and unpack it into a directory the sandbox can use as its rootfs:
#   runner-images/python/export-rootfs.sh /var/lib/arena/rootfs/python-3.11
#   export ARENA_SANDBOX_ROOTFS=/var/lib/arena/rootfs/python-3.11
# Needs Docker (or Podman: DOCKER=podman). Without either, the sandbox assembles an equivalent rootfs
# from read-only binds of the host's Python: see `python -m sandbox rootfs`.
set -euo pipefail
out=${1:?usage: export-rootfs.sh OUTPUT_DIR}
docker=${DOCKER:-docker}
here=$(cd "$(dirname "$0")" && pwd)
tag=${TAG:-arena/runner-python:3.11}

"$docker" build -t "$tag" "$here"
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
cid=$("$docker" create "$tag")
trap '"$docker" rm -f "$cid" >/dev/null; rm -rf "$tmp"' EXIT
"$docker" export "$cid" | tar -C "$tmp" -xf -
# Owned by root, read-only for everyone else; the runtime mounts it read-only anyway.
chown -R 0:0 "$tmp"
chmod 1777 "$tmp/tmp"
rm -rf "$out"
mv "$tmp" "$out"
echo "rootfs ready: $out  (export ARENA_SANDBOX_ROOTFS=$out)"
