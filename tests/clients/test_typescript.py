"""The TypeScript client (clients/typescript) under Node 20: its own tests (`npm test`, node's test runner, after
`npm ci` from its package-lock.json), and its signatures against the server's own (arena.api.remote_auth)."""

from __future__ import annotations

import functools
import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from arena.api.remote_auth import sign

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def _node_major() -> int:
    if not shutil.which("node") or not shutil.which("npm"):
        return 0
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return int(version.lstrip("v").split(".")[0] or 0)


pytestmark = pytest.mark.skipif(_node_major() < 20, reason="needs Node 20 and npm (scripts/bootstrap.sh installs them)")


@functools.cache
def built() -> Path:
    """The client installed from its lock (`npm ci`) and compiled, once per run."""
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        done = subprocess.run(command, cwd=CLIENT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return CLIENT


def test_the_clients_own_tests_pass_under_node() -> None:
    built()
    done = subprocess.run(["node", "--test", "dist/test/"], cwd=CLIENT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout and "# pass " in done.stdout


def test_its_signatures_are_the_servers() -> None:
    built()
    rng = random.Random(7)
    text = lambda n: "".join(rng.choice(string.ascii_letters + string.digits + "_-/") for _ in range(n))  # noqa: E731
    cases = [{"secret": "rs_" + text(43), "method": rng.choice(["GET", "post", "DELETE"]), "path": "/" + text(30),
              "query": rng.choice(["", "a=1&b=" + text(5)]), "timestamp": str(rng.randrange(10**9, 2 * 10**9)),
              "nonce": text(24), "body": rng.choice(["", json.dumps({"type": "order", "qty": 1.5}), "é€"])}
             for _ in range(20)]  # fmt: skip
    script = ("import {readFileSync} from 'node:fs'; import {signature} from './dist/src/signing.js';"
              "const cases = JSON.parse(readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(cases.map(c => signature(c.secret, c.method, c.path, c.query, c.timestamp,"
              " c.nonce, c.body))));")
    done = subprocess.run(["node", "--input-type=module", "-e", script], cwd=CLIENT, input=json.dumps(cases),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)
    ours = [sign(c["secret"], c["method"], c["path"], c["query"], c["timestamp"], c["nonce"], c["body"].encode())
            for c in cases]  # fmt: skip
    assert theirs == ours
    assert len(set(ours)) == len(ours)
