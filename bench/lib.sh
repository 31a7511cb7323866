# Shell helpers shared by the benchmark scripts (sourced, not run).

# bench_source: the benchmark's source, encoded once (x264 is costly on 2 cores) and then
# published with -re -stream_loop -1 -c copy, identically for Relevo and its peers. Sets
# SOURCE (the file) and SOURCE_MBPS.
bench_source() {
  local cache=${BENCH_CACHE:-/tmp/relevo-bench-cache}
  SOURCE=$cache/source-720p30-6M-30s.mp4
  mkdir -p "$cache"
  if [ ! -s "$SOURCE" ]; then
    echo "encoding the 30 s source (once)..."
    ffmpeg -hide_banner -loglevel error -y \
      -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=48000 \
      -t 30 -c:v libx264 -preset ultrafast -b:v 6M -minrate 6M -maxrate 6M -bufsize 12M -g 60 \
      -x264-params nal-hrd=cbr -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 "$SOURCE.tmp.mp4"
    mv "$SOURCE.tmp.mp4" "$SOURCE"
  fi
  SOURCE_MBPS=$(ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$SOURCE" |
    awk '{printf "%.2f", $1 / 1e6}')
  echo "source: $SOURCE ($SOURCE_MBPS Mbit/s)"
}

# free_port: sets PORT to a TCP and UDP port free on 127.0.0.1, above BENCH_PORT_BASE.
NEXT_PORT=${BENCH_PORT_BASE:-31000}
free_port() {
  while ss -Htanu "( sport = :$NEXT_PORT )" | grep -q .; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

# wait_http PORT PID: waits until Relevo answers /healthz on PORT (or PID exits).
wait_http() {
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "relevo exited before listening" >&2; return 1; }
    sleep 0.5
  done
  echo "relevo never answered on port $1" >&2; return 1
}

# relevo_admin_token HTTP_PORT LOG: an access token of a fresh Relevo, whose first admin is made
# through the one-time setup link it writes to LOG.
relevo_admin_token() {
  local setup body
  setup=$(grep -o 'setup#token=rlv_setup_[A-Za-z0-9_-]*' "$2" | head -n 1 | cut -d= -f2)
  [ -n "$setup" ] || return 1
  body='"email": "bench@relevo.local", "password": "bench-password-0000"'
  curl -s --max-time 5 -H 'Content-Type: application/json' -d "{\"token\": \"$setup\", $body}" \
    "http://127.0.0.1:$1/api/v1/setup" >/dev/null || return 1
  curl -s --max-time 5 -H 'Content-Type: application/json' -d "{$body}" \
    "http://127.0.0.1:$1/api/v1/auth/login" | jq -er .access_token
}
