#!/usr/bin/env bash
# Whole-appliance memory at rest: Relevo and its embedded PostgreSQL, each process's PSS
# (proportional set size: shared pages counted once across the processes that share them),
# with N idle inputs declared (one pull RTMP output each) so that the flow history collector
# and the alerts evaluator run as they would on a box waiting for an event.
#
#   bench/memory.sh                          # target/release/relevo (built), 50 inputs, 60 s
#   bench/memory.sh /work/tmp/relevo-base --inputs 10 --seconds 30
#   bench/memory.sh BIN --pg-set shared_buffers=16MB --pg-set max_connections=20
#
# BIN (optional, first argument): the relevo binary to measure; without it the workspace's
# release build is built and measured. --pg-set NAME=VALUE (repeatable) is written to the
# cluster's postgresql.auto.conf before `serve` (the cluster is made by `relevo migrate`
# first), to try PostgreSQL settings on any build; a setting the binary passes itself with
# `-c` wins over it. Prints one line per process (PostgreSQL's by role), the PostgreSQL
# settings that size its memory, and the totals.
# Needs: curl, python3 (a free port), psql (the settings line), cargo when no BIN is given.
# USS (private pages) is printed too: PSS shrinks when other processes on the machine map
# the same binary (another Relevo of the same build, other PostgreSQL clusters).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INPUTS=50
WAIT=60
BIN=""
PG_SET=()
while [ $# -gt 0 ]; do
  case "$1" in
    --inputs) INPUTS=$2; shift ;;
    --seconds) WAIT=$2; shift ;;
    --pg-set) PG_SET+=("$2"); shift ;;
    --no-build) BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/relevo" ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) BIN=$1 ;;
  esac
  shift
done

if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --locked -p relevo)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/relevo"
fi
[ -x "$BIN" ] || { echo "not an executable: $BIN" >&2; exit 1; }

DIR=$(mktemp -d /tmp/relevo-memory.XXXXXX)
# Root drops to the `relevo` user (as the appliance does): it must be able to enter DIR.
chmod 755 "$DIR"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

if [ ${#PG_SET[@]} -gt 0 ]; then
  "$BIN" migrate --state-dir "$DIR/state" > "$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log"; exit 1; }
  for s in "${PG_SET[@]}"; do
    printf "%s = '%s'\n" "${s%%=*}" "${s#*=}" >> "$DIR/state/postgres/postgresql.auto.conf"
  done
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(port)
{
  printf '[listen]\nsrt = "127.0.0.1:%s"\nrtmp = "127.0.0.1:%s"\nhttp = "127.0.0.1:%s"\n\n' "$(port)" "$(port)" "$HTTP"
  printf '[database]\nstate_dir = "%s/state"\n\n' "$DIR"
  for i in $(seq 1 "$INPUTS"); do
    printf '[[input]]\nname = "in-%s"\nkey = "memory-in-%s"\n\n' "$i" "$i"
    printf '  [[input.output]]\n  name = "play"\n  pull = "rtmp"\n  key = "memory-play-%s"\n\n' "$i"
  done
} > "$DIR/relevo.toml"

RELEVO_LOG=warn "$BIN" serve --config "$DIR/relevo.toml" 2> "$DIR/relevo.log" &
PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null || { cat "$DIR/relevo.log"; exit 1; }
sleep "$WAIT"

pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
rss() { awk '/^Rss:/ {print $2}' "/proc/$1/smaps_rollup"; }
# Private pages (USS): what the process alone holds; unlike PSS, not lowered by other
# processes on the machine that map the same binary or libraries.
uss() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
echo "binary: $BIN ($(date -u '+%F %T') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg))"
[ ${#PG_SET[@]} -gt 0 ] && echo "postgresql.auto.conf: ${PG_SET[*]}"
relevo_pss=$(pss "$PID")
printf '%-44s %8s %8s %8s\n' "process" "PSS KiB" "USS KiB" "RSS KiB"
printf '%-44s %8s %8s %8s\n' "relevo ($INPUTS inputs, $((INPUTS * 2)) flows)" "$relevo_pss" "$(uss "$PID")" "$(rss "$PID")"
pg_total=0
backends=0
backend_pss=0
pg_main=$(pgrep -P "$PID" -x postgres | head -1 || true)
if [ -n "$pg_main" ]; then
  for p in "$pg_main" $(pgrep -P "$pg_main"); do
    name=$(tr '\0' ' ' < "/proc/$p/cmdline" | sed 's/ *$//')
    [ "$p" = "$pg_main" ] && name="postgres (postmaster)"
    v=$(pss "$p")
    pg_total=$((pg_total + v))
    case "$name" in
      *relevo*) backends=$((backends + 1)); backend_pss=$((backend_pss + v)) ;;
    esac
    printf '%-44s %8s %8s %8s\n' "${name:0:44}" "$v" "$(uss "$p")" "$(rss "$p")"
  done
  socket="$DIR/state/run"
  if command -v psql >/dev/null; then
    psql_as() { if [ "$(id -u)" = 0 ]; then runuser -u relevo -- "$@"; else "$@"; fi; }
    printf '\nPostgreSQL settings: '
    psql_as psql -h "$socket" -U relevo -d relevo -Atc "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers','max_connections','wal_buffers','max_worker_processes','max_wal_senders','huge_pages','jit','autovacuum_max_workers','work_mem','max_logical_replication_workers')" 2>/dev/null || echo '(psql failed)'
  fi
fi
total=$((relevo_pss + pg_total))
aux=$((pg_total - backend_pss))
printf '\nPostgreSQL: %d KiB in %d pool connections (backends), %d KiB postmaster and auxiliaries\n' \
  "$backend_pss" "$backends" "$aux"
printf 'relevo %d MiB + PostgreSQL %d MiB = %d MiB (PSS); PostgreSQL %d %%\n' \
  $((relevo_pss / 1024)) $((pg_total / 1024)) $((total / 1024)) $((pg_total * 100 / total))
