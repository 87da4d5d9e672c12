#!/bin/sh
# Start-up check of a bot host (Compose's bot-host service and the cloud's bot-host nodes run the same script):
# refuse to take bots unless runsc is installed, the cgroup controllers the sandbox writes are there and
# writable, and the runner image's rootfs is present. Then one real sandboxed run proves all of it together:
# the sandbox reads every limit back from the cgroup and refuses (exit 125) if it cannot.
set -eu

fail() { echo "bot-host-check: $*" >&2; exit 1; }

command -v runsc >/dev/null 2>&1 || fail "runsc is not installed (Debian package runsc)"
runsc --version >/dev/null 2>&1 || fail "runsc does not run: $(runsc --version 2>&1 | head -n 1)"

cgroups=/sys/fs/cgroup
if [ -f "$cgroups/cgroup.controllers" ]; then  # cgroup v2 (unified)
    for controller in cpu memory pids; do
        grep -qw "$controller" "$cgroups/cgroup.controllers" || fail "cgroup v2 controller '$controller' is missing"
    done
    probe="$cgroups/arena-bot-host-check.$$"
else  # cgroup v1 (hybrid): one hierarchy per controller
    for controller in cpu memory pids; do
        [ -d "$cgroups/$controller" ] || fail "cgroup v1 hierarchy '$controller' is not mounted at $cgroups"
    done
    probe="$cgroups/memory/arena-bot-host-check.$$"
fi
mkdir "$probe" 2>/dev/null || fail "cannot create a cgroup under $cgroups (the container needs --privileged and cgroup: host)"
rmdir "$probe"

images="${ARENA_IMAGES_DIR:-/var/lib/arena/images}"
rootfs="${ARENA_SANDBOX_ROOTFS:-$images/rootfs/python}"
[ -f "$rootfs/opt/arena/manifest.json" ] || fail "no runner rootfs at $rootfs: run 'arena images build' (docs/deploy.md)"

probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
echo 'print("sandbox ok")' > "$probe_dir/main.py"
chmod -R a+rX "$probe_dir"
out="$(arena sandbox run --timeout 30 "$probe_dir/main.py" 2>&1)" || fail "a sandboxed probe failed: $out"
case "$out" in *"sandbox ok"*) ;; *) fail "a sandboxed probe printed nothing: $out" ;; esac
echo "bot-host-check: runsc, cgroups and the runner rootfs are in order"
