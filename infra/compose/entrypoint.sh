#!/bin/sh
# Entry point of every Arena container in compose.yaml: builds Arena's settings from the secrets Compose mounts
# under /run/secrets, so no password is written in compose.yaml, in .env or in `docker inspect`'s environment.
# Passwords are percent-encoded into the URLs (a password may hold '@', ':' or '/'). The same script runs in the
# Kubernetes pods (infra/kubernetes), where the Secret Manager add-on mounts the same files, and on cloud bot hosts.
# ARENA_REDIS_HOST, ARENA_POSTGRES_HOST and ARENA_POSTGRES_OPTIONS (e.g. sslmode=require) say where.
set -eu

secrets="${ARENA_SECRETS_DIR:-/run/secrets}"
secret() { tr -d '\r\n' < "$secrets/$1"; }
quoted() { secret "$1" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'; }

present() { [ -r "$secrets/$1" ]; }

if present redis_password; then
    export ARENA_REDIS_URL="redis://:$(quoted redis_password)@${ARENA_REDIS_HOST:-redis}:6379/0"
fi
if present postgres_password; then
    export ARENA_DATABASE_URL="postgresql+psycopg://${ARENA_POSTGRES_USER:-arena}:$(quoted postgres_password)@${ARENA_POSTGRES_HOST:-postgres}:5432/${ARENA_POSTGRES_DB:-arena}${ARENA_POSTGRES_OPTIONS:+?$ARENA_POSTGRES_OPTIONS}"
fi
for pair in ARENA_WEBHOOKS_SECRET_KEYS=webhooks_secret_keys ARENA_METRICS_TOKEN=metrics_token; do
    if present "${pair#*=}"; then export "${pair%%=*}=$(secret "${pair#*=}")"; fi
done
exec "$@"
