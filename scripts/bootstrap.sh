#!/usr/bin/env bash
# Sets up everything Arena's commands need on a fresh Debian/Ubuntu machine with Python 3.11:
# the system packages the tests and the sandbox use, then a virtualenv with Arena installed.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by the command each provides.
# chromium: the browser tests drive Debian's Chromium headless (Playwright uses it; no browser download).
declare -A wanted=([runc]=runc [runsc]=runsc [redis-server]=redis-server [chromium]=chromium)
missing=()
for cmd in "${!wanted[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# The storage tests start a throwaway PostgreSQL with initdb/pg_ctl (Debian keeps them off PATH).
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap: please install these Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
    "$PY" -m venv .venv
fi
# Reinstall only when the project's metadata changed.
stamp=.venv/.arena-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
