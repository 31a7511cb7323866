#!/usr/bin/env bash
# Soak: one Relevo for a long time under a fixed, mixed load, sampled every minute.
# One SRT input (the benchmark's 6.3 Mbit/s source, looped), 50 RTMP players and 20 SRT
# readers on two pull outputs, and 5 push outputs (3 RTMP, 2 SRT) to light sinks. Every
# SAMPLE seconds it records Relevo's RSS, CPU, threads and open files; at the end it reads
# the loads' reports (bytes per connection, SRT loss seen by the readers and sinks) and
# Relevo's own status (units dropped per output, reconnects, publishes).
#
#   bench/soak.sh                         # 60 minutes, builds the release binary first
#   bench/soak.sh --minutes 10 --relevo /work/tmp/relevo-base --no-build
#
# Needs: cargo (unless --no-build), ffmpeg with libsrt, jq, curl, ss. Writes
# bench/results/soak-<date>.csv (the samples) and soak-<date>.md (the summary), and prints
# the summary. RSS growth is measured from the first sample after the warm-up (10 % of the
# run, at least 2 minutes) to the last.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
MINUTES=60
SAMPLE=60
BUILD=1
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RELEVO=$TARGET/release/relevo
BENCH=$TARGET/release/relevo-bench
PLAYERS=50
READERS=20
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift ;;
    --sample) SAMPLE=$2; shift ;;
    --relevo) RELEVO=$2; shift ;;
    --bench) BENCH=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in ffmpeg jq curl ss; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} cargo build --release -p relevo -p relevo-bench)
fi
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

STAMP=$(date +%Y-%m-%d-%H%M)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
CSV=$RESULTS/soak-$STAMP.csv
REPORT=$RESULTS/soak-$STAMP.md
WORK=$(mktemp -d)
chmod 755 "$WORK" # the embedded PostgreSQL runs as the `relevo` user when this runs as root
CASE_DIR=$WORK
echo "work dir: $WORK"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK/state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bg() { # bg LOG CMD...: runs CMD in the background, sets PID
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
}

bench_source
SECS=$((MINUTES * 60))
# The loads measure the whole run after their connections are up, and a little longer than
# the samples, so that Relevo's status is read while every output still has its peers.
LOAD=(--seconds "$((SECS + 30))" --warmup 5 --connect-timeout 60 --expect-mbps "$SOURCE_MBPS")
free_port; RTMP_SINK=$PORT
free_port; SRT_SINK=$PORT
bg "$WORK/rtmp-sink.json" "$BENCH" rtmp-sink --listen "127.0.0.1:$RTMP_SINK" --count 3 "${LOAD[@]}" \
  --pid-file "$WORK/relevo.pid"
RTMP_SINK_PID=$PID
bg "$WORK/srt-sink.json" "$BENCH" srt-sink --listen "127.0.0.1:$SRT_SINK" --count 2 "${LOAD[@]}"
SRT_SINK_PID=$PID

free_port; SRT_PORT=$PORT
free_port; RTMP_PORT=$PORT
free_port; HTTP_PORT=$PORT
{
  printf '[listen]\nsrt = "127.0.0.1:%s"\nrtmp = "127.0.0.1:%s"\nhttp = "127.0.0.1:%s"\n\n' \
    "$SRT_PORT" "$RTMP_PORT" "$HTTP_PORT"
  # All players connect from 127.0.0.1 at once.
  printf '[rtmp]\nmax_unauthenticated_per_address = 1024\n\n'
  printf '[[input]]\nname = "in"\nkey = "in"\n\n'
  printf '  [[input.output]]\n  name = "players"\n  pull = "rtmp"\n  key = "play"\n\n'
  printf '  [[input.output]]\n  name = "readers"\n  pull = "srt"\n  key = "read"\n\n'
  for i in 0 1 2; do
    printf '  [[input.output]]\n  name = "push-rtmp-%s"\n  push = "rtmp://127.0.0.1:%s/live/dest-%s"\n\n' "$i" "$RTMP_SINK" "$i"
  done
  for i in 0 1; do
    printf '  [[input.output]]\n  name = "push-srt-%s"\n  push = "srt://127.0.0.1:%s"\n  stream_id = "dest-%s"\n\n' "$i" "$SRT_SINK" "$i"
  done
} >"$WORK/relevo.toml"
RELEVO_STATE_DIR="$WORK/state" RELEVO_LOG=warn bg "$WORK/relevo.log" "$RELEVO" serve --config "$WORK/relevo.toml"
SRV=$PID
echo "$SRV" >"$WORK/relevo.pid"
wait_http "$HTTP_PORT" "$SRV"

bg "$WORK/publisher.log" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
  -i "$SOURCE" -map 0 -c copy -f mpegts "srt://127.0.0.1:$SRT_PORT?streamid=publish:in"
PUB=$PID
sleep 2
bg "$WORK/players.json" "$BENCH" rtmp-play --url "rtmp://127.0.0.1:$RTMP_PORT/live/play" \
  --count "$PLAYERS" --pid "$SRV" "${LOAD[@]}"
PLAYERS_PID=$PID
bg "$WORK/readers.json" "$BENCH" srt-read --addr "127.0.0.1:$SRT_PORT" --streamid read:read \
  --count "$READERS" "${LOAD[@]}"
READERS_PID=$PID

# ---------------------------------------------------------------- samples
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
host() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
echo "minute,rss_kb,cpu_pct,threads,fds,host_busy_pct" >"$CSV"
t0=$(date +%s)
prev=$(ticks "$SRV"); read -r hb0 ht0 < <(host)
while :; do
  sleep "$SAMPLE"
  kill -0 "$SRV" 2>/dev/null || { echo "relevo exited" >&2; break; }
  now=$(date +%s)
  cur=$(ticks "$SRV"); read -r hb1 ht1 < <(host)
  awk -v m="$(( (now - t0) / 60 ))" -v rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$SRV/status")" \
    -v dt=$((cur - prev)) -v hz="$HZ" -v s="$SAMPLE" -v th="$(ls "/proc/$SRV/task" | wc -l)" \
    -v fd="$(ls "/proc/$SRV/fd" | wc -l)" -v hb=$((hb1 - hb0)) -v ht=$((ht1 - ht0)) \
    'BEGIN { printf "%s,%s,%.2f,%s,%s,%.1f\n", m, rss, dt / hz / s * 100, th, fd, (ht > 0 ? hb / ht * 100 : 0) }' >>"$CSV"
  tail -n 1 "$CSV"
  prev=$cur; hb0=$hb1; ht0=$ht1
  [ $((now - t0)) -lt "$SECS" ] || break
done

# ---------------------------------------------------------------- the end
status=$(curl -s --max-time 5 -H "Authorization: Bearer $(relevo_admin_token "$HTTP_PORT" "$WORK/relevo.log")" \
  "http://127.0.0.1:$HTTP_PORT/api/v1/status" || echo '{}')
echo "$status" >"$WORK/status.json"
for p in "$PLAYERS_PID" "$READERS_PID" "$RTMP_SINK_PID" "$SRT_SINK_PID"; do wait "$p" 2>/dev/null || true; done
kill "$PUB" 2>/dev/null || true

load() { grep '^{' "$WORK/$1.json" | tail -n 1 || echo '{}'; }
{
  echo "# Relevo soak, $STAMP"
  echo
  echo "- Machine: $(nproc) CPUs, $(uname -sr); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- Relevo: \`$RELEVO\`; command: \`bench/soak.sh${ARGS:+ $ARGS}\`"
  echo "- $MINUTES minutes: one SRT input (${SOURCE_MBPS} Mbit/s), $PLAYERS RTMP players, $READERS SRT readers, 3 RTMP and 2 SRT push outputs; samples every $SAMPLE s in \`$(basename "$CSV")\`"
  echo
  awk -F, -v warm="$(( MINUTES / 10 > 2 ? MINUTES / 10 : 2 ))" -v sample="$SAMPLE" 'NR > 1 {
      if (first == "" && $1 >= warm) { first = $2; fm = $1 }
      last = $2; lm = $1; n++; c[n] = $3; th = $4; fd = $5
      if ($1 >= warm) { w++; cs += $3; if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 }
    }
    END {
      printf "- RSS: %.1f MiB at minute %d, %.1f MiB at minute %d: growth %.2f %%\n", first / 1024, fm, last / 1024, lm, (last - first) / first * 100
      printf "- CPU after the warm-up (%% of one core, per %s-s sample): mean %.2f, min %.2f, max %.2f\n", sample, cs / w, min, max
      printf "- Threads %s, open files %s at the end\n", th, fd
    }' "$CSV"
  echo
  echo "| load | connections | failed / incomplete | Mbit/s min / median | SRT lost / dropped |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for l in players readers rtmp-sink srt-sink; do
    load "$l" | jq -r --arg l "$l" '"| \($l) | \(.connected // "–") / \(.expected // "–") | \(.failed // "–") / \(.incomplete // "–") | \(.min_mbps // "–") / \(.median_mbps // "–") | \(.srt_lost // "–") / \(.srt_dropped // "–") |"'
  done
  echo
  echo "Relevo's status at the end (units dropped because an output's queue was full; reconnects):"
  echo
  jq -r '.inputs[]? | "- input \(.name): \(.publishes) publishes, \(.stream_errors) stream errors", (.outputs[] | "- \(.name): dropped \(.dropped), reconnects \(.reconnects), peers \(.peers)")' \
    <<<"$status" || echo "- (no status)"
} >"$REPORT"
cat "$REPORT"
echo
echo "written: $REPORT and $CSV; logs in $WORK"
