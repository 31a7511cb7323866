#!/usr/bin/env bash
# SRT -> SRT end-to-end latency through a relay, and its loss when leg 1 loses packets
# (issue #19 point 3). Needs root (network namespace, veth, nftables).
#
#   source (netns, 10.77.0.2:9000) --leg 1, nft drops N % of the source's UDP-->
#   relay (host) --leg 2, loopback--> sink (host, 127.0.0.1, TSBPD, records delays)
#
# The relay is one of:
#   normal        relevo-bench with TSBPD on both legs: what Relevo does today
#   low           relevo-bench, leg 1 without TSBPD, order restored by sequence number
#                 (waiting at most leg 1's latency for a lost packet), each packet re-sent
#                 with its source time (SRT_MSGCTRL.srctime)
#   low-unordered as low, packets forwarded in the order libsrt hands them out
#   slt           srt-live-transmit (the reference relay)
#   slt-srctime   srt-live-transmit -srctime yes (passes srt_recvmsg2's srctime on)
# No netem in this kernel: the loss is an nftables `numgen random` rule in the namespace.
#
# Usage: sudo bench/relay-latency.sh [-s SECONDS] [-l "0 2 10"] [-m "normal low slt"]
#        [-b path/to/relevo-bench] [-L LATENCY_MS] [-n NICE]
# -n -10 runs the three light processes (a few % of a core each) ahead of other work on a
# busy shared host, so that the figures measure libsrt rather than the scheduler.
# Prints one table row per case and keeps the JSON lines in bench/results/.
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_CASE=25
LOSSES="0 2 10"
MODES="normal low low-unordered slt slt-srctime"
BIN=target/release/relevo-bench
LAT=200
NICE=0
while getopts "s:l:m:b:L:n:" opt; do
    case $opt in
        s) SECONDS_PER_CASE=$OPTARG ;;
        l) LOSSES=$OPTARG ;;
        m) MODES=$OPTARG ;;
        b) BIN=$OPTARG ;;
        L) LAT=$OPTARG ;;
        n) NICE=$OPTARG ;;
        *) exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (netns, nft)" >&2; exit 2; }
command -v nft >/dev/null || { echo "nft missing: apt-get install nftables" >&2; exit 2; }
[ -x "$BIN" ] || { echo "$BIN missing: cargo build --release -p relevo-bench" >&2; exit 2; }

NS=relaylat$$
VH=rlh$$
VN=rln$$
HOST_IP=10.77.0.1
SRC_IP=10.77.0.2
SRC_PORT=9000
SINK_PORT=$((20000 + $$ % 20000))
STAMP=$(date -u +%Y-%m-%d-%H%M)
OUT=bench/results/relay-latency-$STAMP.jsonl
WORK=$(mktemp -d)
mkdir -p bench/results
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$VH" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip link add "$VH" type veth peer name "$VN"
ip link set "$VN" netns "$NS"
ip addr add "$HOST_IP/30" dev "$VH"
ip link set "$VH" up
ip netns exec "$NS" ip addr add "$SRC_IP/30" dev "$VN"
ip netns exec "$NS" ip link set "$VN" up
ip netns exec "$NS" ip link set lo up

# Drops LOSS % of every UDP datagram the source sends (data, retransmissions, its handshake
# answers and ACKs); counts what passed and what was dropped.
set_loss() {
    ip netns exec "$NS" nft delete table inet relaylat 2>/dev/null || true
    ip netns exec "$NS" nft -f - <<EOF
table inet relaylat {
    chain out {
        type filter hook output priority 0; policy accept;
        udp sport $SRC_PORT counter
        udp sport $SRC_PORT numgen random mod 100 < $1 counter drop
    }
}
EOF
}

nft_counts() {
    ip netns exec "$NS" nft list table inet relaylat |
        sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | paste -sd' '
}

run_case() {
    local mode=$1 loss=$2
    set_loss "$loss"
    nice -n "$NICE" "$BIN" relay-latency sink --listen "127.0.0.1:$SINK_PORT" --latency-ms "$LAT" \
        >"$WORK/sink.json" 2>"$WORK/sink.err" &
    local sink=$!
    PIDS+=("$sink")
    ip netns exec "$NS" nice -n "$NICE" "$BIN" relay-latency source --listen "$SRC_IP:$SRC_PORT" \
        --latency-ms "$LAT" --seconds "$SECONDS_PER_CASE" \
        >"$WORK/source.json" 2>"$WORK/source.err" &
    local source=$!
    PIDS+=("$source")
    sleep 0.5
    local relay
    case $mode in
        normal | low | low-unordered)
            nice -n "$NICE" "$BIN" relay-latency relay --mode "$mode" --from "$SRC_IP:$SRC_PORT" \
                --to "127.0.0.1:$SINK_PORT" --in-latency-ms "$LAT" --out-latency-ms "$LAT" \
                >"$WORK/relay.json" 2>"$WORK/relay.err" &
            relay=$! ;;
        slt | slt-srctime)
            local st=no
            [ "$mode" = slt-srctime ] && st=yes
            echo '{"role":"relay","mode":"'"$mode"'"}' >"$WORK/relay.json"
            nice -n "$NICE" srt-live-transmit -q -a:no -st:$st "srt://$SRC_IP:$SRC_PORT?latency=$LAT" \
                "srt://127.0.0.1:$SINK_PORT?latency=$LAT" 2>"$WORK/relay.err" &
            relay=$! ;;
        *) echo "unknown mode $mode" >&2; exit 2 ;;
    esac
    PIDS+=("$relay")
    local rc=0
    wait "$source" || rc=$?
    local counts
    counts=$(nft_counts)
    # srt-live-transmit does not exit when its source closes: stop it once the tail played.
    if [[ $mode == slt* ]]; then sleep 2; kill "$relay" 2>/dev/null || true; fi
    local relay_rc=0
    wait "$relay" 2>/dev/null || relay_rc=$?
    wait "$sink" || rc=$?
    PIDS=()
    if [ "$rc" != 0 ]; then
        echo "case $mode loss $loss failed" >&2
        tail -n 5 "$WORK"/*.err >&2
        return 1
    fi
    local cpu
    cpu=$(grep -c ^processor /proc/cpuinfo)
    jq -c --arg mode "$mode" --argjson loss "$loss" --arg nft "$counts" \
        --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson cpus "$cpu" \
        --slurpfile src "$WORK/source.json" --slurpfile rel "$WORK/relay.json" \
        --slurpfile snk "$WORK/sink.json" --argjson relay_rc "$relay_rc" \
        --arg relay_err "$(tail -c 600 "$WORK/relay.err")" \
        -n '{mode: $mode, relay_rc: $relay_rc, relay_err: $relay_err, loss_pct: $loss, latency_ms: '"$LAT"', nft_passed_dropped: $nft,
             loadavg: $load, cpus: $cpus, source: $src[0], relay: $rel[0], sink: $snk[0]}' |
        tee -a "$OUT" >/dev/null
    jq -r '[.mode, .loss_pct, .source.sent, .sink.received,
            (.source.sent - .sink.received), .sink.duplicates, .sink.reordered,
            .sink.delay_ms.p50, .sink.delay_ms.p99, .sink.delay_ms.max,
            .sink.delay_ms_after_start.p99, .sink.delay_ms_after_start.max,
            .nft_passed_dropped] | @tsv' <<<"$(tail -n 1 "$OUT")"
}

echo "# $(date -u '+%F %T') UTC, ${SECONDS_PER_CASE}s per case, ${LAT} ms + ${LAT} ms legs, nice $NICE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'mode\tloss%%\tsent\trecv\tlost\tdup\treord\tp50ms\tp99ms\tmaxms\tp99ms*\tmaxms*\tnft(passed dropped)\n'
echo "# * after the first 1000 packets (about 1.75 s)"
for loss in $LOSSES; do
    for mode in $MODES; do
        run_case "$mode" "$loss"
    done
done
echo "# JSON: $OUT"
