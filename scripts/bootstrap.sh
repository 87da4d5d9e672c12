#!/usr/bin/env bash
# Sets up everything Arena's commands need on a fresh Debian/Ubuntu machine with Python 3.11:
# the system packages the tests and the sandbox use, then a virtualenv with Arena installed.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by the command each provides.
# chromium: the browser tests drive Debian's Chromium headless (Playwright uses it; no browser download).
# mmdebstrap, dockerd: `arena images build` and tests/images make the runner image from Debian packages
# with a private Docker engine (docker.io brings containerd); no image registry involved.
# promtool (Debian's prometheus): tests/infra checks the alert rules and their unit tests with it.
# ip, nsenter: scripts/cluster.py builds its simulated cluster out of network namespaces.
# node, npm: the TypeScript client (clients/typescript) is built and tested under Node 20 (Debian 13's nodejs);
# tests/clients installs its packages from its package-lock.json with `npm ci`.
declare -A wanted=([runc]=runc [runsc]=runsc [redis-server]=redis-server [chromium]=chromium
                   [mmdebstrap]=mmdebstrap [dockerd]=docker.io [promtool]=prometheus [ip]=iproute2
                   [nsenter]=util-linux [gcc]=gcc [node]=nodejs [npm]=npm)
missing=()
for cmd in "${!wanted[@]}"; do
    # /usr/sbin is not on a non-root user's PATH on Debian (dockerd, runc live there).
    command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("${wanted[$cmd]}")
done
# The storage tests start a throwaway PostgreSQL with initdb/pg_ctl (Debian keeps them off PATH).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi
# The sync below compiles the engine's hot modules with mypyc: gcc (above) and Python's headers.
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -f $("$PY" -c 'import sysconfig; print(sysconfig.get_path("include"))')/Python.h ]]; then
    missing+=("$(basename "$(readlink -f "$PY")")-dev")
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap: please install these Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No package may start a service here (prometheus would listen on every address): policy-rc.d says so.
    own_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [[ -n $own_policy ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# The locked install: uv.lock pins every package (numpy and pandas to the runner image's), `uv sync --frozen`
# installs exactly that into .venv, Arena itself editable, and refuses a lock that pyproject.toml has outgrown.
# uv comes from PyPI into a venv of its own (.tools/uv) when the machine has none; it uses this Python, never
# downloads one. Without uv: `python -m venv .venv && .venv/bin/pip install -e '.[dev]'` (newest within bounds).
UV_VERSION=0.13.9
uv=$(command -v uv || true)
if [[ -z $uv ]]; then
    if [[ ! -x .tools/uv/bin/uv ]]; then
        "$PY" -m venv .tools/uv
        .tools/uv/bin/python -m pip install -q "uv==$UV_VERSION"
    fi
    uv=.tools/uv/bin/uv
fi
# Sync only when the lock, the project's metadata or the build changed (a second run installs nothing). The sync
# compiles the engine's hot modules with mypyc (setup.py; gcc), so an edited engine source rebuilds them too.
stamp=.venv/.arena-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || uv.lock -nt $stamp || setup.py -nt $stamp ||
      -n $(find arena/engine -name '*.py' -newer "$stamp" -print -quit) ]]; then
    UV_PYTHON="$PY" UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --extra dev
    touch "$stamp"
fi

# The runner image's rootfs, which runsc runs every bot on (cached by its recipe's digest: a no-op when current).
if [[ $(id -u) -eq 0 ]]; then
    .venv/bin/arena images build
else
    echo "bootstrap: as root, run '.venv/bin/arena images build' to make the runner image bots run on" >&2
fi
