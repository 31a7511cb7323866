#!/usr/bin/env bash
# Relevo's benchmark: Relevo side by side with peers (nginx-rtmp, ffmpeg, srt-live-transmit)
# in one run, on this machine, on 127.0.0.1. See bench/RESULTS.md for what each case means.
#
#   bench/run.sh            # full run (~11 min on 2 cores)
#   bench/run.sh --quick    # a smaller run (~4 min): fewer N, 6 s windows
#   bench/run.sh --seconds 20 --no-build
#   bench/run.sh --only 'push_case srt'    # only the cases whose "function args" match the regex
#   bench/run.sh --pin      # servers on CPU 0, publishers and readers on CPU 1
#   bench/run.sh --no-build --relevo /path/to/relevo --srt-readers '10 50 100 200' \
#     --only 'srt_pull .* relevo'   # another Relevo binary (RELEVO_BENCH: another bench tool);
#                                     # the SRT reader counts to run
#
# Needs: cargo, ffmpeg/ffprobe with libsrt, nginx with libnginx-mod-rtmp, srt-live-transmit, jq.
# Writes bench/results/<date>.md (the tables) and <date>.jsonl (every measurement, with the
# per-reader byte counts), and prints the tables.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
SECONDS_WINDOW=15
WARMUP=3
QUICK=0
BUILD=1
ONLY=""
PIN=0
RELEVO_BIN=""
SRT_READERS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; SECONDS_WINDOW=6; WARMUP=2 ;;
    --seconds) SECONDS_WINDOW=$2; shift ;;
    --no-build) BUILD=0 ;;
    --only) ONLY=$2; shift ;;
    --pin) PIN=1 ;;
    --relevo) RELEVO_BIN=$2; shift ;;
    --srt-readers) SRT_READERS=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$QUICK" = 1 ]; then
  RTMP_PULL_N="1 10 50"; SRT_PULL_N="1 10"; PUSH_N="10"; HLS_N="1 50"
else
  RTMP_PULL_N="1 10 100 200"; SRT_PULL_N="1 10 100"; PUSH_N="10 50"; HLS_N="1 200"
fi
[ -z "$SRT_READERS" ] || SRT_PULL_N=$SRT_READERS

# --pin: the server under test alone on CPU 0, everything that feeds or reads it on CPU 1. On
# two cores a reader woken by the server's write otherwise often preempts the server on its
# own core, and the server pays for that switch; on a network the readers are elsewhere.
SERVER=()
CLIENT=()
if [ "$PIN" = 1 ]; then SERVER=(taskset -c 0); CLIENT=(taskset -c 1); fi

for tool in cargo ffmpeg ffprobe nginx srt-live-transmit jq ss curl; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
NGINX_RTMP=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -f "$NGINX_RTMP" ] || { echo "missing: $NGINX_RTMP (apt-get install libnginx-mod-rtmp)" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$BUILD" = 1 ]; then
  (cd "$ROOT" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} cargo build --release -p relevo -p relevo-bench)
fi
RELEVO=${RELEVO_BIN:-$TARGET/release/relevo}
BENCH=${RELEVO_BENCH:-$TARGET/release/relevo-bench}

STAMP=$(date +%Y-%m-%d-%H%M)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
JSONL=$RESULTS/$STAMP.jsonl
REPORT=$RESULTS/$STAMP.md
: >"$JSONL"
WORK=$(mktemp -d)
# Run as root, Relevo's embedded PostgreSQL runs as the `relevo` user: it must reach
# each case's state directory.
chmod 755 "$WORK"
echo "work dir: $WORK"

# ---------------------------------------------------------------- processes
PIDS=()
start() { # start LOG CMD... : runs CMD in the background, sets PID
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
}
stop() { # stop PID...: TERM, then KILL after 3 s
  local p
  # A Relevo case: keep its live status (time through the relay, from its own clock).
  if [ -f "$CASE_DIR/relevo.toml" ] && [ ! -f "$CASE_DIR/status.json" ]; then
    local token
    token=$(relevo_token) || token=""
    curl -s --max-time 5 -H "Authorization: Bearer $token" \
      "http://127.0.0.1:$HTTP_PORT/api/v1/status" >"$CASE_DIR/status.json" || true
  fi
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
# A Relevo case's state directory is mostly its embedded PostgreSQL (about 47 MiB);
# the logs stay in the work dir, the databases of finished cases go.
drop_states() { rm -rf "$WORK"/*/state; }
cleanup() {
  [ ${#PIDS[@]} -eq 0 ] || stop "${PIDS[@]}"
  drop_states
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NEXT_PORT=${BENCH_PORT_BASE:-31000}
port_free() { ! ss -Htanu "( sport = :$1 )" | grep -q .; }
ports() { # ports N: sets PORT to the first of N consecutive free ports
  local n=$1 i ok
  while :; do
    ok=1
    for ((i = 0; i < n; i++)); do port_free $((NEXT_PORT + i)) || { ok=0; break; }; done
    if [ "$ok" = 1 ]; then PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + n)); return; fi
    NEXT_PORT=$((NEXT_PORT + i + 1))
  done
}
wait_tcp() { # wait_tcp PORT PID
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited before listening" >&2; return 1; }
    sleep 0.1
  done
  echo "port $1 never listened" >&2; return 1
}

# ---------------------------------------------------------------- the source
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_source

publish() { # publish srt|rtmp URL: sets PUB
  local fmt=mpegts
  [ "$1" = rtmp ] && fmt=flv
  start "$CASE_DIR/publisher.log" "${CLIENT[@]}" ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 \
    -i "$SOURCE" -map 0 -c copy -f "$fmt" "$2"
  PUB=$PID
}

# ---------------------------------------------------------------- servers
relevo_token() { # an access token of the case's Relevo (bench/lib.sh)
  relevo_admin_token "$HTTP_PORT" "$CASE_DIR/relevo.log"
}

relevo_start() { # relevo_start OUTPUTS_TOML: sets SRV, SRT_PORT, RTMP_PORT, HTTP_PORT
  ports 1; SRT_PORT=$PORT
  ports 1; RTMP_PORT=$PORT
  ports 1; HTTP_PORT=$PORT
  cat >"$CASE_DIR/relevo.toml" <<EOF
[listen]
srt = "127.0.0.1:$SRT_PORT"
rtmp = "127.0.0.1:$RTMP_PORT"
http = "127.0.0.1:$HTTP_PORT"

# Every player of a case connects from 127.0.0.1 at the same moment; nginx-rtmp has no such
# cap either.
[rtmp]
max_unauthenticated_per_address = 1024
${RELEVO_TABLES:-}
[[input]]
name = "in"
key = "in"
$1
EOF
  # A fresh embedded PostgreSQL per case (its own processes: not counted as Relevo's), and
  # the first-admin link in the log for relevo_token.
  RELEVO_STATE_DIR="$CASE_DIR/state" RELEVO_LOG=warn \
    start "$CASE_DIR/relevo.log" "${SERVER[@]}" "$RELEVO" serve --config "$CASE_DIR/relevo.toml"
  SRV=$PID
  wait_tcp "$RTMP_PORT" "$SRV"
}

nginx_start() { # nginx_start EXTRA_APP_DIRECTIVES: sets SRV, RTMP_PORT
  ports 1; RTMP_PORT=$PORT
  local prefix=$CASE_DIR/nginx
  mkdir -p "$prefix/logs"
  cat >"$prefix/nginx.conf" <<EOF
load_module $NGINX_RTMP;
daemon off;
master_process off;
worker_processes 1;
error_log $prefix/logs/error.log warn;
pid $prefix/nginx.pid;
events { worker_connections 4096; }
rtmp {
  server {
    listen 127.0.0.1:$RTMP_PORT;
    application live {
      live on;
$1
    }
  }
}
EOF
  start "$CASE_DIR/nginx.log" "${SERVER[@]}" nginx -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf"
  SRV=$PID
  wait_tcp "$RTMP_PORT" "$SRV"
}

nginx_http_start() { # nginx_http_start ROOT: nginx serving ROOT as static files; sets SRV, PEER_HTTP_PORT
  ports 1; PEER_HTTP_PORT=$PORT
  local prefix=$CASE_DIR/nginx
  mkdir -p "$prefix/logs"
  # Static files as a CDN origin serves HLS: sendfile, keep-alive, no access log (Relevo
  # keeps none either). No open_file_cache: it would keep serving a replaced playlist.
  cat >"$prefix/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $prefix/logs/error.log warn;
pid $prefix/nginx.pid;
events { worker_connections 4096; }
http {
  types { application/vnd.apple.mpegurl m3u8; video/mp4 mp4; video/iso.segment m4s; }
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PEER_HTTP_PORT;
    root $1;
    location ~ \.m3u8\$ { add_header Cache-Control "max-age=1"; }
    location / { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
EOF
  start "$CASE_DIR/nginx.log" "${SERVER[@]}" nginx -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf"
  SRV=$PID
  wait_tcp "$PEER_HTTP_PORT" "$SRV"
}

output_block() { # output_block NAME KEY_VALUE_LINES
  printf '\n  [[input.output]]\n  name = "%s"\n%s\n' "$1" "$2"
}

# ---------------------------------------------------------------- one case
record() { # record CASE N SERVER PEER_OF JSON_FILE
  local line
  line=$(grep '^{' "$5" | tail -n 1 || true)
  if ! jq -e . >/dev/null 2>&1 <<<"$line"; then
    echo "  no result (see $CASE_DIR)" >&2
    line='{"failed": null}'
  fi
  # Time through the relay (Relevo only): the worst p50 and p99 over the case's outputs.
  local lat='{}'
  if [ -s "$CASE_DIR/status.json" ]; then
    lat=$(jq -c '[.inputs[].outputs[].latency | select(. != null)]
      | if length == 0 then {} else {latency_p50_ms: (map(.p50_ms) | max * 100 | round / 100),
        latency_p99_ms: (map(.p99_ms) | max * 100 | round / 100)} end' "$CASE_DIR/status.json" 2>/dev/null || echo '{}')
  fi
  line=$(jq -c --argjson lat "$lat" '. + $lat' <<<"$line")
  jq -c --arg case "$1" --argjson n "$2" --arg server "$3" --arg dir "$CASE_DIR" \
    '. + {case: $case, n: $n, server: $server, dir: $dir}' <<<"$line" >>"$JSONL"
  jq -r '"  cpu \(.server_cpu_pct)%  rss peak \((.server_rss_peak_kb // 0) / 1024 | floor) MiB  Mbit/s min/med \(.min_mbps)/\(.median_mbps)  failed \(.failed) incomplete \(.incomplete)  host busy \(.host_busy_pct)%"' <<<"$line" || true
}

LOAD=(--seconds "$SECONDS_WINDOW" --warmup "$WARMUP" --connect-timeout 60)
CASE_NO=0
new_case() { # new_case CASE N SERVER
  drop_states
  CASE_NO=$((CASE_NO + 1))
  CASE_DIR=$WORK/$(printf '%02d' "$CASE_NO")-$1-$2-$3
  mkdir -p "$CASE_DIR"
  echo "== $1 N=$2 $3"
}

# Fan-out to N RTMP players of one stream (Relevo: one pull output; nginx: one stream).
rtmp_pull() { # rtmp_pull N relevo|nginx
  local n=$1 url
  new_case rtmp-pull "$n" "$2"
  if [ "$2" = relevo ]; then
    relevo_start "$(output_block out 'pull = "rtmp"
  key = "out"')"
    publish rtmp "rtmp://127.0.0.1:$RTMP_PORT/live/in"
    url=rtmp://127.0.0.1:$RTMP_PORT/live/out
  else
    nginx_start ""
    publish rtmp "rtmp://127.0.0.1:$RTMP_PORT/live/in"
    url=rtmp://127.0.0.1:$RTMP_PORT/live/in
  fi
  sleep 1
  "${CLIENT[@]}" "$BENCH" rtmp-play --url "$url" --count "$n" --pid "$SRV" --expect-mbps "$SOURCE_MBPS" \
    "${LOAD[@]}" >"$CASE_DIR/load.json" 2>"$CASE_DIR/load.log" || true
  stop "$PUB" "$SRV"
  record rtmp-pull "$n" "$2" "" "$CASE_DIR/load.json"
}

# Fan-out to N SRT readers. Relevo: one pull output, N readers with read:out.
# ffmpeg: one process, SRT listener in, tee muxer to N SRT listeners (one port per reader).
# srt-live-transmit (N=1 only): SRT listener in, SRT listener out, 1:1.
srt_pull() { # srt_pull N relevo|ffmpeg|srt-live-transmit
  local n=$1 in slaves i target
  new_case srt-pull "$n" "$2"
  case "$2" in
    relevo)
      relevo_start "$(output_block out 'pull = "srt"
  key = "out"')"
      publish srt "srt://127.0.0.1:$SRT_PORT?streamid=publish:in"
      target=(--addr "127.0.0.1:$SRT_PORT" --streamid read:out)
      ;;
    ffmpeg)
      ports 1; in=$PORT
      ports "$n"
      slaves=""
      for ((i = 0; i < n; i++)); do
        slaves+="${slaves:+|}[f=mpegts:onfail=ignore]srt://127.0.0.1:$((PORT + i))?mode=listener&latency=120000"
      done
      start "$CASE_DIR/ffmpeg.log" "${SERVER[@]}" ffmpeg -hide_banner -loglevel error -nostdin \
        -i "srt://127.0.0.1:$in?mode=listener&latency=120000" -map 0 -c copy -f tee "$slaves"
      SRV=$PID
      sleep 0.5
      publish srt "srt://127.0.0.1:$in?latency=120000"
      target=(--addr "127.0.0.1:$PORT" --distinct-ports --attempt-ms 150)
      ;;
    srt-live-transmit)
      ports 1; in=$PORT
      ports 1
      start "$CASE_DIR/slt.log" "${SERVER[@]}" srt-live-transmit -q -a:no \
        "srt://127.0.0.1:$in?mode=listener&latency=120" "srt://127.0.0.1:$PORT?mode=listener&latency=120"
      SRV=$PID
      sleep 0.5
      publish srt "srt://127.0.0.1:$in?latency=120000"
      target=(--addr "127.0.0.1:$PORT")
      ;;
  esac
  sleep 1
  "${CLIENT[@]}" "$BENCH" srt-read "${target[@]}" --count "$n" --pid "$SRV" --expect-mbps "$SOURCE_MBPS" \
    "${LOAD[@]}" >"$CASE_DIR/load.json" 2>"$CASE_DIR/load.log" || true
  stop "$PUB" "$SRV"
  record srt-pull "$n" "$2" "" "$CASE_DIR/load.json"
}

# N push outputs of protocol OUT from one input of protocol IN, to one light sink (an RTMP
# server or SRT listener accepting every publisher). Relevo: N push outputs. nginx (RTMP only):
# N push directives. ffmpeg: a listener input and the tee muxer to N outputs (-c copy).
push_case() { # push_case IN OUT N relevo|nginx|ffmpeg
  local in=$1 out=$2 n=$3 server=$4 sink outputs="" slaves="" i sinkpid url fmt
  new_case "$in-$out-push" "$n" "$server"
  ports 1; sink=$PORT
  start "$CASE_DIR/load.json" "${CLIENT[@]}" "$BENCH" "$out-sink" --listen "127.0.0.1:$sink" --count "$n" \
    --expect-mbps "$SOURCE_MBPS" "${LOAD[@]}" --pid-file "$CASE_DIR/server.pid"
  sinkpid=$PID
  sleep 0.3
  for ((i = 0; i < n; i++)); do
    if [ "$out" = rtmp ]; then url=rtmp://127.0.0.1:$sink/live/dest-$i; fmt=flv
    else url="srt://127.0.0.1:$sink?streamid=dest-$i&latency=120000"; fmt=mpegts; fi
    case "$server" in
      relevo)
        if [ "$out" = rtmp ]; then outputs+=$(output_block "push-$i" "  push = \"$url\"")
        else outputs+=$(output_block "push-$i" "  push = \"srt://127.0.0.1:$sink\"
  stream_id = \"dest-$i\""); fi ;;
      nginx) outputs+="      push $url;"$'\n' ;;
      ffmpeg) slaves+="${slaves:+|}[f=$fmt:onfail=ignore]$url" ;;
    esac
  done
  case "$server" in
    relevo)
      relevo_start "$outputs"
      if [ "$in" = rtmp ]; then url=rtmp://127.0.0.1:$RTMP_PORT/live/in
      else url="srt://127.0.0.1:$SRT_PORT?streamid=publish:in"; fi ;;
    nginx)
      nginx_start "$outputs"
      url=rtmp://127.0.0.1:$RTMP_PORT/live/in ;;
    ffmpeg)
      # One output is written directly (the tee muxer keeps the input's codec tags, which
      # FLV refuses from a TS input); several through tee.
      local sinks=(-f tee "$slaves")
      [ "$n" = 1 ] && sinks=(-f "$fmt" "$url")
      ports 1
      if [ "$in" = rtmp ]; then
        url=rtmp://127.0.0.1:$PORT/live/in
        start "$CASE_DIR/ffmpeg.log" "${SERVER[@]}" ffmpeg -hide_banner -loglevel error -nostdin \
          -listen 1 -i "$url" -map 0 -c copy "${sinks[@]}"
      else
        url="srt://127.0.0.1:$PORT?latency=120000"
        start "$CASE_DIR/ffmpeg.log" "${SERVER[@]}" ffmpeg -hide_banner -loglevel error -nostdin \
          -i "srt://127.0.0.1:$PORT?mode=listener&latency=120000" -map 0 -c copy "${sinks[@]}"
      fi
      SRV=$PID
      sleep 0.5 ;;
  esac
  echo "$SRV" >"$CASE_DIR/server.pid"
  publish "$in" "$url"
  wait "$sinkpid" || true
  stop "$PUB" "$SRV"
  record "$in-$out-push" "$n" "$server" "" "$CASE_DIR/load.json"
}

# One recording of an SRT input, to MP4 or MPEG-TS: Relevo with one record output, ffmpeg
# reading the same SRT stream and writing the same container with -c copy (fragmented MP4,
# one fragment per keyframe, as Relevo writes it). The load tool counts the bytes written
# under the directory as one connection's.
record_case() { # record_case mp4|ts relevo|ffmpeg
  local fmt=$1 server=$2 url dir loadpid
  new_case "srt-record-$fmt" 1 "$server"
  dir=$CASE_DIR/recordings
  mkdir -p "$dir"
  chmod 777 "$dir"
  case "$server" in
    relevo)
      RELEVO_TABLES=$(printf '\n[recording]\ndir = "%s"\n' "$dir") \
        relevo_start "$(output_block rec "  record = \"$fmt\"")"
      url="srt://127.0.0.1:$SRT_PORT?streamid=publish:in" ;;
    ffmpeg)
      local muxer=(-f mpegts)
      # ADTS (as AAC travels in TS) to the AudioSpecificConfig MP4 wants: ffmpeg 5.1 refuses
      # the packets without this filter.
      [ "$fmt" = mp4 ] && muxer=(-bsf:a aac_adtstoasc -f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof)
      ports 1
      url="srt://127.0.0.1:$PORT?latency=120000"
      start "$CASE_DIR/ffmpeg.log" "${SERVER[@]}" ffmpeg -hide_banner -loglevel error -nostdin \
        -i "srt://127.0.0.1:$PORT?mode=listener&latency=120000" -map 0 -c copy "${muxer[@]}" "$dir/out.$fmt"
      SRV=$PID
      sleep 0.5 ;;
  esac
  echo "$SRV" >"$CASE_DIR/server.pid"
  start "$CASE_DIR/load.json" "${CLIENT[@]}" "$BENCH" file-growth --dir "$dir" --count 1 \
    --expect-mbps "$SOURCE_MBPS" "${LOAD[@]}" --pid-file "$CASE_DIR/server.pid"
  loadpid=$PID
  publish srt "$url"
  wait "$loadpid" || true
  stop "$PUB" "$SRV"
  record "srt-record-$fmt" 1 "$server" "" "$CASE_DIR/load.json"
}

# Copies a live HLS playlist and the files it names (init and whole segments; parts are not
# fetched by the load's clients) into DIR until killed: files first, each written under a
# temporary name and renamed, then the playlist, so nginx never serves half a file or a
# playlist naming a file it lacks.
hls_mirror() { # hls_mirror PLAYLIST_URL DIR
  local url=$1 dir=$2 base=${1%/*} f ok
  while :; do
    if curl -sf --max-time 5 -o "$dir/.index.tmp" "$url"; then
      ok=1
      for f in $(grep -v '^#' "$dir/.index.tmp"; grep -o 'EXT-X-MAP:URI="[^"]*"' "$dir/.index.tmp" | cut -d'"' -f2); do
        [ -e "$dir/$f" ] && continue
        if curl -sf --max-time 5 -o "$dir/.$f.tmp" "$base/$f"; then mv "$dir/.$f.tmp" "$dir/$f"; else ok=0; fi
      done
      [ "$ok" = 1 ] && mv "$dir/.index.tmp" "$dir/index.m3u8"
    fi
    sleep 0.2
  done
}

# N light HLS clients of one input (relevo-bench hls-clients: the playlist every half target
# duration, every new whole segment once, one keep-alive connection each, client i from
# 127.0.0.(2+i)). Relevo: an SRT publisher, one HLS output, segments muxed and served from
# memory. nginx: the same clients read the same playlist and segments as static files,
# mirrored from a Relevo's live output into nginx's root while they play; the mirror loop
# and the Relevo feeding it run beside nginx but are not in nginx's figures.
hls_case() { # hls_case N relevo|nginx
  local n=$1 server=$2 url dir mirror="" source="" outputs
  new_case hls "$n" "$server"
  outputs=$(output_block web 'pull = "hls"
  key = "web"')
  if [ "$server" = relevo ]; then
    relevo_start "$outputs"
  else
    # The feeding Relevo's files under source/: this case records nginx's figures, and
    # stop must not fetch Relevo's status into them.
    mkdir -p "$CASE_DIR/source"
    CASE_DIR=$CASE_DIR/source relevo_start "$outputs"
    source=$SRV
  fi
  publish srt "srt://127.0.0.1:$SRT_PORT?streamid=publish:in"
  url=http://127.0.0.1:$HTTP_PORT/hls/web/index.m3u8
  if [ "$server" = nginx ]; then
    dir=$CASE_DIR/www/hls/web
    mkdir -p "$dir"
    start "$CASE_DIR/mirror.log" hls_mirror "$url" "$dir"
    mirror=$PID
    nginx_http_start "$CASE_DIR/www"
    url=http://127.0.0.1:$PEER_HTTP_PORT/hls/web/index.m3u8
  fi
  sleep 1
  "${CLIENT[@]}" "$BENCH" hls-clients --url "$url" --distinct-sources --count "$n" --pid "$SRV" \
    "${LOAD[@]}" >"$CASE_DIR/load.json" 2>"$CASE_DIR/load.log" || true
  # shellcheck disable=SC2086
  stop "$PUB" $mirror "$SRV" $source
  rm -rf "$CASE_DIR/source/state"
  record hls "$n" "$server" "" "$CASE_DIR/load.json"
  jq -r '"  \(.hls_segments) segments, \(.hls_mib) MiB, errors \(.hls_errors), missed \(.hls_missed_segments), segment fetch median / max \(.segment_fetch_ms_median) / \(.segment_fetch_ms_max) ms"' \
    <<<"$(grep '^{' "$CASE_DIR/load.json" | tail -n 1)" 2>/dev/null || true
}

# ---------------------------------------------------------------- the run
STARTED=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run() { # run FUNCTION ARGS...: unless --only excludes it
  if [ -z "$ONLY" ] || [[ "$*" =~ $ONLY ]]; then "$@"; fi
}
for n in $RTMP_PULL_N; do run rtmp_pull "$n" relevo; run rtmp_pull "$n" nginx; done
for n in $SRT_PULL_N; do
  run srt_pull "$n" relevo
  # ffmpeg's tee opens its SRT listeners one after another (~0.45 s each, each waiting for its
  # caller); past ~20 its input buffer overflows before the last one opens, so N=100 fails.
  if [ "$n" -le 20 ]; then run srt_pull "$n" ffmpeg; fi
  if [ "$n" = 1 ]; then run srt_pull 1 srt-live-transmit; fi
done
# Push fan-out; N=1 doubles as the passthrough baseline of the remux cases.
for n in 1 $PUSH_N; do run push_case rtmp rtmp "$n" relevo; run push_case rtmp rtmp "$n" nginx; done
for n in 1 $PUSH_N; do run push_case srt srt "$n" relevo; run push_case srt srt "$n" ffmpeg; done
# Cross-protocol remux, one output each way.
for io in "srt rtmp" "rtmp srt"; do
  # shellcheck disable=SC2086
  run push_case $io 1 relevo; run push_case $io 1 ffmpeg
done
# Recording, one file each way.
for fmt in mp4 ts; do run record_case "$fmt" relevo; run record_case "$fmt" ffmpeg; done
# HLS: N clients of one HLS output, against nginx serving the same files.
for n in $HLS_N; do run hls_case "$n" relevo; run hls_case "$n" nginx; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - STARTED ))

# ---------------------------------------------------------------- the report
version() { "$@" 2>&1 | head -n 1; }
{
  echo "# Relevo benchmark, $STAMP"
  echo
  echo "- Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "- Load average before / after: $LOAD_BEFORE / $LOAD_AFTER; run took ${ELAPSED} s"
  echo "- Relevo: $("$RELEVO" --version 2>/dev/null || echo "relevo (no --version)"), release build"
  echo "- $(version nginx -v); libnginx-mod-rtmp $(dpkg-query -W -f '${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?')"
  echo "- $(version ffmpeg -version | cut -d' ' -f1-3); libsrt $(dpkg-query -W -f '${Version}' 'libsrt1.5-openssl' 2>/dev/null || echo '?')"
  echo "- Source: 1280x720 30 fps H.264 (x264 ultrafast, CBR 6 Mbit/s, GOP 60) + AAC 128 kbit/s, ${SOURCE_MBPS} Mbit/s, looped with ffmpeg -re -stream_loop -1 -c copy"
  echo "- Steady window ${SECONDS_WINDOW} s after ${WARMUP} s of warm-up once every reader has media; command: \`bench/run.sh${ARGS:+ $ARGS}\`"
  if [ "$PIN" = 1 ]; then
    echo "- Pinned: each server alone on CPU 0, its publisher and readers on CPU 1 (taskset)"
  else
    echo "- Not pinned: servers, publishers and readers share both CPUs"
  fi
  echo
  echo "CPU: the server process, % of one core (utime+stime over the window). RSS: VmHWM (peak) and VmRSS at the end, MiB."
  echo "Rate: media received per reader over the window, Mbit/s (FLV tag bodies for RTMP, TS bytes for SRT). Failed: never got media; incomplete: lost its connection or got < 90 % of the source rate."
  echo
  echo "Time through the relay: Relevo's own clock, from a packet's arrival to its departure through an output (worst p50 / p99 over the case's outputs, ms); peers do not measure it."
  echo
  echo "| case | N | server | CPU % | RSS peak / end MiB | Mbit/s per reader min / median | failed / incomplete | SRT lost / dropped pkts | time through relay p50 / p99 ms | machine busy % (all CPUs) |"
  echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  jq -r '"| \(.case) | \(.n) | \(.server) | \(.server_cpu_pct // "–") | \(((.server_rss_peak_kb // 0) / 1024 * 10 | round) / 10) / \(((.server_rss_end_kb // 0) / 1024 * 10 | round) / 10) | \(.min_mbps // "–") / \(.median_mbps // "–") | \(.failed // "–") / \(.incomplete // "–") | \(.srt_lost // "–") / \(.srt_dropped // "–") | \(.latency_p50_ms // "–") / \(.latency_p99_ms // "–") | \(.host_busy_pct // "–") |"' "$JSONL"
  echo
  echo "Ratios Relevo / peer (lower is better for Relevo):"
  echo
  echo "| case | N | peer | CPU ratio | RSS peak ratio |"
  echo "| --- | ---: | --- | ---: | ---: |"
  jq -rs '
    def r(a; b): if (a == null or b == null or b == 0) then "–" else ((a / b * 100 | round) / 100 | tostring) end;
    (map(select(.server == "relevo")) | map({key: "\(.case)/\(.n)", value: .}) | from_entries) as $rel
    | .[] | select(.server != "relevo") | . as $p | $rel["\(.case)/\(.n)"] as $r
    | select($r != null)
    | "| \(.case) | \(.n) | \(.server) | \(r($r.server_cpu_pct; $p.server_cpu_pct)) | \(r($r.server_rss_peak_kb; $p.server_rss_peak_kb)) |"' "$JSONL"
  echo
  echo "Remux cost (CPU of one input with one push output; passthrough = same protocol in and out):"
  echo
  jq -rs '
    def cpu(c; s): (map(select(.server == s and .case == c and .n == 1)) | .[0].server_cpu_pct) // "–";
    "- Relevo: SRT in → RTMP out \(cpu("srt-rtmp-push"; "relevo")) % vs SRT → SRT \(cpu("srt-srt-push"; "relevo")) %; RTMP in → SRT out \(cpu("rtmp-srt-push"; "relevo")) % vs RTMP → RTMP \(cpu("rtmp-rtmp-push"; "relevo")) %",
    "- ffmpeg -c copy: SRT in → RTMP out \(cpu("srt-rtmp-push"; "ffmpeg")) % vs SRT → SRT \(cpu("srt-srt-push"; "ffmpeg")) %; RTMP in → SRT out \(cpu("rtmp-srt-push"; "ffmpeg")) %"' "$JSONL"
  if [ -n "$(jq -c 'select(.case == "hls")' "$JSONL")" ]; then
    echo
    echo "HLS clients, whole run, all clients (the rate above counts media bytes: init and segments): segments fetched, MiB, errors, segments missed, segment fetch median / max ms:"
    echo
    jq -r 'select(.case == "hls") | "- \(.server), N=\(.n): \(.hls_segments) segments, \(.hls_mib) MiB, errors \(.hls_errors), missed \(.hls_missed_segments), fetch \(.segment_fetch_ms_median) / \(.segment_fetch_ms_max) ms"' "$JSONL"
  fi
} >"$REPORT"
cat "$REPORT"
echo
echo "written: $REPORT and $JSONL (per-reader byte counts); logs in $WORK"
