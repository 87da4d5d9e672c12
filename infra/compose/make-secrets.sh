#!/bin/sh
# Makes the Compose secrets once (docs/deploy.md): random passwords for Redis and PostgreSQL, a Fernet key for
# the webhook signing secrets at rest and a bearer token for /metrics. An existing file is never overwritten.
# The directory is 0700 (only root on the host can read it); the files are 0444 because Compose mounts them into
# containers whose own users (redis, postgres, arena) must read them.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 0700 secrets

make() {  # make NAME PYTHON-EXPRESSION
    [ -e "secrets/$1" ] && { echo "secrets/$1 exists: kept"; return; }
    python3 -c "import base64, secrets; print($2)" > "secrets/$1"
    chmod 0444 "secrets/$1"
    echo "secrets/$1 made"
}
make redis_password "secrets.token_urlsafe(32)"
make postgres_password "secrets.token_urlsafe(32)"
make webhooks_secret_keys "base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()"
make metrics_token "secrets.token_urlsafe(32)"
