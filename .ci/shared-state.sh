#!/usr/bin/env bash
# Shared state with the release binary, as CI runners and a cron host use it: a throwaway
# PostgreSQL cluster (initdb and pg_ctl as the `postgres` user when run as root, on a free
# loopback port) and SeaweedFS's S3 API, both started here and stopped on exit however this
# script exits. For each location, runner A applies, runner B (another directory, nothing
# shared on disk) plans with no changes, runner C's drift is in sync, `state check` passes,
# and no runner keeps a local state file.
#
#   .ci/shared-state.sh BIN WEED
set -euo pipefail
BIN=$(realpath "$1")
WEED=$(realpath "$2")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
chmod 755 "$TMP"
PIDS=()
PGDATA_DIR=""

PGBIN=""
for candidate in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
  if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then PGBIN=$candidate; fi
done
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; }
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$PGBIN/$1" "${@:2}"; else "$PGBIN/$1" "${@:2}"; fi
}
cleanup() {
  if [ -n "$PGDATA_DIR" ]; then as_pg pg_ctl -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "--- PostgreSQL ($PGBIN)"
PGDATA_DIR="$TMP/pg"
mkdir -p "$PGDATA_DIR"
printf 'ci-pg-password\n' >"$TMP/pgpass"
chmod 644 "$TMP/pgpass"
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA_DIR"; fi
as_pg initdb -D "$PGDATA_DIR" -U fgform --auth=scram-sha-256 --pwfile="$TMP/pgpass" >"$TMP/initdb.log"
PGPORT=$(free_port)
as_pg pg_ctl -D "$PGDATA_DIR" -w -l "$PGDATA_DIR/server.log" \
  -o "-p $PGPORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1" start >/dev/null
PG_LOCATION="postgres://fgform@127.0.0.1:$PGPORT/postgres?schema=ci"

echo "--- SeaweedFS"
ports=()
for _ in $(seq 1 12); do ports+=("$(free_port)"); done
flags=(s3.port s3.port.grpc s3.port.iceberg s3.port.lance master.port master.port.grpc volume.port volume.port.grpc
  filer.port filer.port.grpc admin.port admin.port.grpc)
args=()
for i in "${!flags[@]}"; do args+=("-${flags[$i]}=${ports[$i]}"); done
mkdir -p "$TMP/weed"
"$WEED" mini -dir="$TMP/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false -webdav=false \
  -master.telemetry=false "${args[@]}" >"$TMP/weed.log" 2>&1 &
PIDS+=($!)
S3="http://127.0.0.1:${ports[0]}"
for _ in $(seq 1 300); do curl -s -o /dev/null "$S3/" && break; sleep 0.3; done
curl -sf -o /dev/null -X PUT "$S3/ci-state" || { cat "$TMP/weed.log"; echo "cannot create the bucket"; exit 1; }
S3_LOCATION="s3://ci-state/runners?endpoint=$S3&region=us-east-1"

echo "--- one emulator"
"$BIN" emulator --listen 127.0.0.1:0 >"$TMP/emulator.url" 2>"$TMP/emulator.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TMP/emulator.url" ] && break; sleep 0.1; done
URL=$(head -n1 "$TMP/emulator.url")
[ -n "$URL" ] || { cat "$TMP/emulator.log"; exit 1; }

export PGPASSWORD=ci-pg-password AWS_ACCESS_KEY_ID=ci AWS_SECRET_ACCESS_KEY=ci-secret
export HUAWEICLOUD_SDK_AK=FGFORMLOCALACCESSKEY HUAWEICLOUD_SDK_SK=fgform-local-secret-key

for LOCATION in "$PG_LOCATION" "$S3_LOCATION"; do
  echo "--- runners on $LOCATION"
  "$BIN" state check "$LOCATION"
  RUNNERS="$TMP/runners-$(printf '%s' "$LOCATION" | cut -c1-5)"
  for runner in a b c; do mkdir -p "$RUNNERS/$runner"; cp -r "$ROOT/examples/quickstart" "$RUNNERS/$runner/qs"; done
  (cd "$RUNNERS/a" && FGFORM_STATE="$LOCATION" "$BIN" apply qs --auto-approve --endpoint "$URL" >/dev/null)
  (cd "$RUNNERS/b" && "$BIN" plan qs --detailed-exitcode --state "$LOCATION" --endpoint "$URL" >/dev/null)
  (cd "$RUNNERS/c" && FGFORM_STATE="$LOCATION" "$BIN" drift qs --endpoint "$URL" >/dev/null)
  (cd "$RUNNERS/b" && "$BIN" state history qs --state "$LOCATION" >history.txt && grep apply history.txt >/dev/null && rm history.txt)
  if find "$RUNNERS" -path '*/qs' -prune -o -type f -print | grep -q .; then
    find "$RUNNERS" -path '*/qs' -prune -o -type f -print
    echo "a runner kept a local file"; exit 1
  fi
  (cd "$RUNNERS/c" && FGFORM_STATE="$LOCATION" "$BIN" destroy qs --auto-approve --endpoint "$URL" >/dev/null)
done
echo "shared state: PostgreSQL and S3 runners agree; servers stopped on exit"
