#!/usr/bin/env bash
# Relevo at rest: the CPU time and the wakeups (context switches) of relevo processes with N
# inputs and no peer at all, side by side in the same window, optionally with an idle
# nginx-rtmp as the reference. What it shows: the fixed cost of the listeners (libsrt's
# receive thread of each bound UDP port wakes ~100 times a second while libsrt listens on
# it; a dormant listener costs nothing).
#
#   bench/idle.sh BIN [BIN...] [--inputs N] [--own-ports M] [--seconds S] [--settle S] [--nginx]
#
# Each BIN (a release relevo binary; copy it first, target/release changes under you) gets its
# own ports and state, N listening inputs of which M have their own SRT port (issue #18) and
# the shared SRT, RTMP and HTTP listeners. After --settle seconds (default 45: past the
# listeners' 30 s idle time and libsrt's ~5 s to free them) it reads, over --seconds (60),
# from /proc: utime+stime of the process (clock ticks, all threads), the run time of its
# threads (schedstat, ns) and their voluntary + involuntary context switches; plus the number
# of libsrt threads (named SRT:*) at the end. Only the relevo process is counted, not its
# embedded PostgreSQL. Run as root (the embedded PostgreSQL drops to the `relevo` user).
#
# Example: bench/idle.sh /work/tmp/relevo-base /work/tmp/me/relevo-new --inputs 10 --own-ports 5 --nginx
set -euo pipefail

USAGE="usage: bench/idle.sh BIN [BIN...] [--inputs N] [--own-ports M] [--seconds S] [--settle S] [--nginx]"
BINS=()
INPUTS=10
OWN=5
SECS=60
SETTLE=45
NGINX=0
while [ $# -gt 0 ]; do
  case "$1" in
    --inputs) INPUTS=$2; shift ;;
    --own-ports) OWN=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --nginx) NGINX=1 ;;
    -*) echo "unknown option $1" >&2; echo "$USAGE" >&2; exit 2 ;;
    *) BINS+=("$1") ;;
  esac
  shift
done
[ ${#BINS[@]} -gt 0 ] || { echo "$USAGE" >&2; exit 2; }
[ "$OWN" -le "$INPUTS" ] || { echo "--own-ports must not exceed --inputs" >&2; exit 2; }
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "not executable: $b" >&2; exit 1; }; done
NGINX_RTMP=/usr/lib/nginx/modules/ngx_rtmp_module.so
if [ "$NGINX" = 1 ]; then
  command -v nginx >/dev/null && [ -f "$NGINX_RTMP" ] ||
    { echo "missing: nginx with $NGINX_RTMP (apt-get install libnginx-mod-rtmp)" >&2; exit 1; }
fi

WORK=$(mktemp -d /tmp/relevo-idle.XXXXXX)
chmod 755 "$WORK" # the embedded PostgreSQL runs as `relevo` and must reach the state dirs
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

BASE=$((40000 + RANDOM % 500 * 40))
NAMES=()
declare -A PID
i=0
for b in "${BINS[@]}"; do
  d=$WORK/relevo-$i; mkdir -p "$d"; chmod 755 "$d"
  p=$((BASE + i * (INPUTS + 8)))
  {
    printf '[listen]\nsrt = "127.0.0.1:%s"\nrtmp = "127.0.0.1:%s"\nhttp = "127.0.0.1:%s"\n' \
      "$p" "$((p + 1))" "$((p + 2))"
    for ((n = 0; n < INPUTS; n++)); do
      printf '\n[[input]]\nname = "in-%s"\nkey = "key-%s"\n' "$n" "$n"
      if [ "$n" -lt "$OWN" ]; then
        printf 'passphrase = "idle-passphrase-%s"\nsrt_port = %s\n' "$n" "$((p + 4 + n))"
      fi
    done
  } >"$d/relevo.toml"
  RELEVO_STATE_DIR=$d/state RELEVO_LOG=warn "$b" serve --config "$d/relevo.toml" >"$d/relevo.log" 2>&1 &
  PID[relevo-$i]=$!; PIDS+=("$!"); NAMES+=("relevo-$i")
  echo "relevo-$i = $b (pid $!, http 127.0.0.1:$((p + 2)))"
  i=$((i + 1))
done
if [ "$NGINX" = 1 ]; then
  d=$WORK/nginx; mkdir -p "$d/logs"
  cat >"$d/nginx.conf" <<EOF
load_module $NGINX_RTMP;
daemon off;
master_process off;
worker_processes 1;
error_log $d/logs/error.log warn;
pid $d/nginx.pid;
events { worker_connections 4096; }
rtmp { server { listen 127.0.0.1:$((BASE - 10)); application live { live on; } } }
EOF
  nginx -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" >"$d/out.log" 2>&1 &
  PID[nginx]=$!; PIDS+=("$!"); NAMES+=("nginx")
  echo "nginx = nginx-rtmp (pid $!)"
fi

# ticks PID: utime+stime of the whole process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# runtime PID: the run time of its live threads, ns.
runtime() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
# switches PID: voluntary + involuntary context switches of its live threads.
switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {printf "%.0f\n", s}'
}
srt_threads() { cat /proc/"$1"/task/*/comm 2>/dev/null | grep -c '^SRT:' || true; }

echo "settling ${SETTLE}s, then measuring ${SECS}s ($(date -u '+%F %T') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg))"
sleep "$SETTLE"
for n in "${NAMES[@]}"; do
  kill -0 "${PID[$n]}" 2>/dev/null || { echo "$n died:"; cat "$WORK/$n/relevo.log" "$WORK/$n/out.log" 2>/dev/null; exit 1; }
done
declare -A T0 R0 S0
for n in "${NAMES[@]}"; do
  p=${PID[$n]}; T0[$n]=$(ticks "$p"); R0[$n]=$(runtime "$p"); S0[$n]=$(switches "$p")
done
sleep "$SECS"
HZ=$(getconf CLK_TCK)
for n in "${NAMES[@]}"; do
  p=${PID[$n]}
  t=$(( $(ticks "$p") - T0[$n] )); r=$(( $(runtime "$p") - R0[$n] )); s=$(( $(switches "$p") - S0[$n] ))
  awk -v n="$n" -v t="$t" -v hz="$HZ" -v r="$r" -v s="$s" -v secs="$SECS" \
    -v threads="$(ls /proc/"$p"/task | wc -l)" -v srt="$(srt_threads "$p")" 'BEGIN {
      printf "%-8s cpu %.3f %% of a core (utime+stime %d ticks; threads run %.1f ms), %.1f context switches/s, %d threads (%d libsrt)\n",
        n, 100 * t / hz / secs, t, r / 1e6, s / secs, threads, srt }'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
