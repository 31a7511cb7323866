#!/usr/bin/env bash
# Whole-appliance memory at rest: Relevo and its embedded PostgreSQL, each process's PSS
# (proportional set size: shared pages counted once across the processes that share them),
# with N idle inputs declared (one pull RTMP output each) so that the flow history collector
# and the alerts evaluator run as they would on a box waiting for an event.
#
#   bench/memory.sh                 # 50 inputs, measured after 60 s
#   bench/memory.sh --inputs 10 --seconds 30 --no-build
#
# Needs: cargo (unless --no-build), curl. Prints one line per process and the totals.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INPUTS=50
WAIT=60
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --inputs) INPUTS=$2; shift ;;
    --seconds) WAIT=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && cargo build --release --locked -p relevo)
fi
BIN="$ROOT/target/release/relevo"

DIR=$(mktemp -d /tmp/relevo-memory.XXXXXX)
# Root drops to the `relevo` user (as the appliance does): it must be able to enter DIR.
chmod 755 "$DIR"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

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
relevo_pss=$(pss "$PID")
printf '%-40s %8s %8s\n' "process" "PSS KiB" "RSS KiB"
printf '%-40s %8s %8s\n' "relevo ($INPUTS inputs, $((INPUTS * 2)) flows)" "$relevo_pss" "$(rss "$PID")"
pg_total=0
pg_main=$(pgrep -P "$PID" -x postgres | head -1 || true)
if [ -n "$pg_main" ]; then
  for p in "$pg_main" $(pgrep -P "$pg_main"); do
    name=$(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-38)
    v=$(pss "$p")
    pg_total=$((pg_total + v))
    printf '%-40s %8s %8s\n' "$name" "$v" "$(rss "$p")"
  done
fi
total=$((relevo_pss + pg_total))
printf '\nrelevo %d MiB + PostgreSQL %d MiB = %d MiB (PSS); PostgreSQL %d %%\n' \
  $((relevo_pss / 1024)) $((pg_total / 1024)) $((total / 1024)) $((pg_total * 100 / total))
