#!/usr/bin/env bash
# Two Relevo builds side by side, at the same moment, so that the machine's noise hits both:
# each gets its own RTMP input with one pull output, its own ffmpeg publisher (the benchmark's
# 6.3 Mbit/s source) and N light players; `perf stat` reads each server's CPU time and page
# faults over the same window. Rounds alternate which build starts first. With --push N, each
# build has N push RTMP outputs to its own light sink instead of players. With --srt-push N or
# --srt-readers N the input is published over SRT, and each build has N push SRT outputs to
# its own light SRT sink, or one pull SRT output with N light SRT readers.
#
#   bench/ab.sh OLD_RELEVO NEW_RELEVO [--players N | --push N | --srt-push N | --srt-readers N]
#               [--seconds S] [--rounds R]
#
# Needs: perf (linux-perf), ffmpeg, jq, and a release build of relevo-bench
# (CARGO_TARGET_DIR/release/relevo-bench); the source is made by bench/run.sh on its first run.
# Prints one line per build and round, then the mean ratio new/old of the CPU time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
USAGE="usage: bench/ab.sh OLD_RELEVO NEW_RELEVO [--players N | --push N | --srt-push N | --srt-readers N] [--seconds S] [--rounds R]"
OLD=${1:?$USAGE}
NEW=${2:?$USAGE}
shift 2
MODE=players
N=1
SECS=30
ROUNDS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --players | --push | --srt-push | --srt-readers) MODE=${1#--}; N=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
BENCH=${CARGO_TARGET_DIR:-$ROOT/target}/release/relevo-bench
SOURCE=/tmp/relevo-bench-cache/source-720p30-6M-30s.mp4
for need in perf ffmpeg jq "$BENCH" "$SOURCE" "$OLD" "$NEW"; do
  command -v "$need" >/dev/null || [ -e "$need" ] || { echo "missing: $need" >&2; exit 1; }
done

WORK=$(mktemp -d)
# Run as root, Relevo's embedded PostgreSQL runs as the `relevo` user: it must reach the
# state directories.
chmod 755 "$WORK"
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"/*/state; }
trap cleanup EXIT

# round ORDER...: starts the builds named in ORDER (old/new), measures, prints, stops them.
round() {
  declare -A srv port
  local tag p d
  for tag in "$@"; do
    d=$WORK/$tag; rm -rf "$d"; mkdir -p "$d"; chmod 755 "$d"
    p=$((36000 + RANDOM % 2000 * 4)); port[$tag]=$p
    local outputs='
  [[input.output]]
  name = "out"
  pull = "rtmp"
  key = "out"'
    # The sinks first: the outputs connect as soon as the input is live.
    case $MODE in
      push | srt-push)
        local sink=rtmp-sink
        [ "$MODE" = srt-push ] && sink=srt-sink
        "$BENCH" "$sink" --listen "127.0.0.1:$((p + 3))" --count "$N" --expect-mbps 6.3 \
          --seconds $((SECS + 5)) --warmup 3 --connect-timeout 60 --pid-file "$d/server.pid" \
          >"$d/load.json" 2>"$d/load.log" &
        PIDS+=("$!")
        outputs=$(for ((i = 0; i < N; i++)); do
          printf '\n  [[input.output]]\n  name = "push-%s"\n' "$i"
          if [ "$MODE" = push ]; then
            printf '  push = "rtmp://127.0.0.1:%s/live/dest-%s"\n' "$((p + 3))" "$i"
          else
            printf '  push = "srt://127.0.0.1:%s"\n  stream_id = "dest-%s"\n' "$((p + 3))" "$i"
          fi
        done) ;;
      srt-readers)
        outputs='
  [[input.output]]
  name = "out"
  pull = "srt"
  key = "out"' ;;
    esac
    cat >"$d/relevo.toml" <<EOT
[listen]
srt = "127.0.0.1:$p"
rtmp = "127.0.0.1:$((p + 1))"
http = "127.0.0.1:$((p + 2))"

[[input]]
name = "in"
key = "in"
$outputs
EOT
    local bin=$OLD; [ "$tag" = new ] && bin=$NEW
    RELEVO_STATE_DIR=$d/state RELEVO_LOG=warn "$bin" serve --config "$d/relevo.toml" >"$d/relevo.log" 2>&1 &
    srv[$tag]=$!; PIDS+=("$!")
    echo "${srv[$tag]}" >"$d/server.pid"
  done
  sleep 12 # the embedded PostgreSQL and the listeners
  for tag in "$@"; do
    local dest=(-f flv "rtmp://127.0.0.1:$((port[$tag] + 1))/live/in")
    case $MODE in srt-*) dest=(-f mpegts "srt://127.0.0.1:${port[$tag]}?streamid=publish:in") ;; esac
    ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$SOURCE" -map 0 -c copy \
      "${dest[@]}" >"$WORK/$tag/pub.log" 2>&1 &
    PIDS+=("$!")
  done
  sleep 2
  for tag in "$@"; do
    local load=(rtmp-play --url "rtmp://127.0.0.1:$((port[$tag] + 1))/live/out")
    case $MODE in
      push | srt-push) continue ;;
      srt-readers) load=(srt-read --addr "127.0.0.1:${port[$tag]}" --streamid read:out) ;;
    esac
    "$BENCH" "${load[@]}" --count "$N" \
      --pid "${srv[$tag]}" --expect-mbps 6.3 --seconds $((SECS + 5)) --warmup 3 \
      --connect-timeout 60 >"$WORK/$tag/load.json" 2>"$WORK/$tag/load.log" &
    PIDS+=("$!")
  done
  sleep 6
  local stats=()
  for tag in "$@"; do
    perf stat -e task-clock,page-faults -p "${srv[$tag]}" -o "$WORK/$tag/stat.txt" -- sleep "$SECS" &
    stats+=("$!")
  done
  wait "${stats[@]}"
  sleep $((SECS / 3 + 2)) # the load tools finish their window
  for tag in old new; do
    local ms faults
    ms=$(awk '/task-clock/ {print $1}' "$WORK/$tag/stat.txt")
    faults=$(awk '/page-faults/ {print $1}' "$WORK/$tag/stat.txt")
    echo "$tag ${ms} ms cpu over ${SECS}s, ${faults} page faults, load tool: $(jq -c \
      '{rss_peak_kb: .server_rss_peak_kb, median_mbps: .median_mbps, failed, incomplete}' \
      "$WORK/$tag/load.json" 2>/dev/null || echo '?')"
    echo "$tag $ms" >>"$WORK/cpu.txt"
  done
  kill "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  PIDS=()
}

for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r ($N × $MODE, ${SECS} s)"
  if [ $((r % 2)) = 1 ]; then round old new; else round new old; fi
done
awk '$1 == "old" {o[NR] = $2} $1 == "new" {n[NR - 1] = $2}
     END {for (i in o) if (n[i] > 0) {s += n[i] / o[i]; k++}
          if (k) printf "mean new/old CPU over %d rounds: %.3f\n", k, s / k}' "$WORK/cpu.txt"
