#!/usr/bin/env bash
# The control plane's speed: typical API calls against one or two Relevo builds running at
# the same time, each on its own embedded PostgreSQL with a week of flow history seeded, so
# that "a smaller database server" can be checked for "no slower" (issue #19, point 5).
#
#   bench/api.sh BIN_A [BIN_B] [--requests N] [--concurrency C] [--rounds R]
#                [--inputs I] [--days D] [--pg-set NAME=VALUE]...
#
# --pg-set (repeatable) writes a PostgreSQL setting into the LAST build's
# postgresql.auto.conf before it starts (as bench/memory.sh does): BIN_A against BIN_A with
# other server settings; a setting the binary passes itself with `-c` wins over it.
# Each build gets I inputs with one pull output each (made through the API), and D days of
# per-minute history rows for all of them (written straight into its database). Every round
# runs, for each build in turn (the order alternates between rounds), each call N times one
# after the other and then N times from C clients at once:
#   status    GET /api/v1/status
#   inputs    GET /api/v1/inputs
#   history   GET /api/v1/history/in-K?from=<D days ago>&step=1h   (K cycles over the inputs)
#   events    GET /api/v1/events
#   config    POST /api/v1/inputs/ID/outputs, then DELETE /api/v1/outputs/OID (the revert);
#             both timed, as two requests
# It prints, per build, call and mode, the median and 99th percentile latency and the
# requests per second (client side, Python's http.client on keep-alive connections: the
# same client for both builds), and each build's CPU time (Relevo and PostgreSQL, from
# /proc) and PostgreSQL's memory (PSS) after the rounds.
# Requests use API tokens (one per client, as many as the API's per-principal rate limit
# needs) so that no request is refused with 429; a refused or failed request is counted and
# reported, and makes the script exit non-zero.
# Needs: python3, curl, psql (the cluster is reached on its Unix socket).
set -euo pipefail

USAGE="usage: bench/api.sh BIN_A [BIN_B] [--requests N] [--concurrency C] [--rounds R] [--inputs I] [--days D] [--pg-set NAME=VALUE]..."
PG_SET=()
BINS=()
N=200
C=8
ROUNDS=2
INPUTS=20
DAYS=7
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift ;;
    --concurrency) C=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --inputs) INPUTS=$2; shift ;;
    --days) DAYS=$2; shift ;;
    --pg-set) PG_SET+=("$2"); shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; echo "$USAGE" >&2; exit 2 ;;
    *) BINS+=("$1") ;;
  esac
  shift
done
[ ${#BINS[@]} -ge 1 ] && [ ${#BINS[@]} -le 2 ] || { echo "$USAGE" >&2; exit 2; }
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 1; }; done
for need in python3 curl psql; do command -v "$need" >/dev/null || { echo "missing: $need" >&2; exit 1; }; done

DIR=$(mktemp -d /tmp/relevo-api.XXXXXX)
# Root drops to the `relevo` user (as the appliance does): it must be able to enter DIR.
chmod 755 "$DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

psql_as() { if [ "$(id -u)" = 0 ]; then runuser -u relevo -- psql "$@"; else psql "$@"; fi; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

HTTPS=()
for i in "${!BINS[@]}"; do
  d="$DIR/b$i"
  mkdir -p "$d"
  chmod 755 "$d"
  http=$(port)
  printf '[listen]\nsrt = "127.0.0.1:%s"\nrtmp = "127.0.0.1:%s"\nhttp = "127.0.0.1:%s"\n\n[database]\nstate_dir = "%s/state"\n' \
    "$(port)" "$(port)" "$http" "$d" > "$d/relevo.toml"
  # Two builds side by side: each its own state directory, ports and cluster.
  if [ ${#PG_SET[@]} -gt 0 ] && [ "$i" = $((${#BINS[@]} - 1)) ]; then
    "${BINS[$i]}" migrate --state-dir "$d/state" > "$d/migrate.log" 2>&1 || { cat "$d/migrate.log"; exit 1; }
    for s in "${PG_SET[@]}"; do
      printf "%s = '%s'\n" "${s%%=*}" "${s#*=}" >> "$d/state/postgres/postgresql.auto.conf"
    done
  fi
  RELEVO_LOG=info "${BINS[$i]}" serve --config "$d/relevo.toml" 2> "$d/relevo.log" &
  PIDS+=($!)
  HTTPS+=("$http")
done
for i in "${!BINS[@]}"; do
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:${HTTPS[$i]}/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:${HTTPS[$i]}/healthz" >/dev/null || { cat "$DIR/b$i/relevo.log"; exit 1; }
  # A week of history for the inputs the client makes (in-1 … in-I, each with "play").
  psql_as -q -h "$DIR/b$i/state/run" -U relevo -d relevo -v ON_ERROR_STOP=1 <<SQL
INSERT INTO flow_minutes (minute, input, output, secs_live, secs_meant, bitrate_avg,
                          bitrate_min, bitrate_max, bytes, peers_max)
SELECT m, 'in-' || i, o, 60, 60, 6000000, 5800000, 6200000, 45000000, 1
FROM generate_series(date_trunc('minute', now()) - interval '$DAYS days',
                     date_trunc('minute', now()) - interval '2 minutes', interval '1 minute') m,
     generate_series(1, $INPUTS) i, unnest(ARRAY['', 'play']) o
ON CONFLICT DO NOTHING;
INSERT INTO flow_events (at, input, output, kind, severity, detail)
SELECT now() - (n || ' minutes')::interval, 'in-' || (n % $INPUTS + 1), '',
       'publisher.connected', 'info', '{"protocol": "rtmp"}'
FROM generate_series(1, $DAYS * 200) n;
ANALYZE flow_minutes;
ANALYZE flow_events;
SQL
done

status=0
RELEVO_PIDS="${PIDS[*]}" python3 - "$DIR" "$N" "$C" "$ROUNDS" "$INPUTS" "$DAYS" "${BINS[@]}" <<'PY' || status=$?
import http.client, json, os, re, subprocess, sys, threading, time
from datetime import datetime, timedelta, timezone

DIR, N, C, ROUNDS, INPUTS, DAYS = sys.argv[1], *map(int, sys.argv[2:7])
BINS = sys.argv[7:]
# The API allows each principal a burst of 200 requests and 50 a second (ApiConfig):
# every client of a phase has its own API token, fresh for each build's turn.

def conf_port(i):
    text = open(f"{DIR}/b{i}/relevo.toml").read()
    return int(re.search(r'http = "127.0.0.1:(\d+)"', text).group(1))

class Client:
    def __init__(self, port, token=None):
        self.port, self.token, self.conn = port, token, None
    def call(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return 0, None, time.perf_counter() - t0
        dt = time.perf_counter() - t0
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return status, payload, dt

def must(resp, want, what):
    st, body, _ = resp
    if st not in want:
        sys.exit(f"{what}: HTTP {st} {body}")
    return body

def setup(i):
    port = conf_port(i)
    log = open(f"{DIR}/b{i}/relevo.log").read()
    token = re.search(r"setup#token=([A-Za-z0-9_\-]+)", log).group(1)
    anon = Client(port)
    email, password = "bench@example.com", "bench-password-1234"
    must(anon.call("POST", "/api/v1/setup", {"token": token, "email": email, "password": password}), (201,), "setup")
    access = must(anon.call("POST", "/api/v1/auth/login", {"email": email, "password": password}), (200,), "login")["access_token"]
    admin = Client(port, access)
    ids = []
    for k in range(1, INPUTS + 1):
        inp = must(admin.call("POST", "/api/v1/inputs", {"name": f"in-{k}", "key": f"bench-in-{k}"}), (201,), "input")
        must(admin.call("POST", f"/api/v1/inputs/{inp['id']}/outputs", {"name": "play", "pull": "rtmp", "key": f"bench-play-{k}"}), (201,), "output")
        ids.append(inp["id"])
    # Tokens: every client of every phase of a turn has its own.
    tokens = []
    for t in range(5 * (1 + C)):
        body = must(admin.call("POST", "/api/v1/tokens", {"name": f"bench-{t}", "role": "admin"}), (201,), "token")
        tokens.append(body["token"])
    return port, ids, tokens

def cpu_ticks(pid):
    """User+system time of `pid` (Relevo) and of its descendants (PostgreSQL), clock ticks."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.strip().splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    relevo = pg = 0
    stack = [(pid, True)]
    while stack:
        p, top = stack.pop()
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and those of children already waited for (exited backends).
        t = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        if top:
            relevo += int(f[11]) + int(f[12])
        else:
            pg += t
        stack += [(c, False) for c in children.get(p, [])]
    return relevo, pg

def calls(ids, now):
    since = (now - timedelta(days=DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "status": lambda j: [("GET", "/api/v1/status", None)],
        "inputs": lambda j: [("GET", "/api/v1/inputs", None)],
        "history": lambda j: [("GET", f"/api/v1/history/in-{j % INPUTS + 1}?from={since}&step=1h", None)],
        "events": lambda j: [("GET", "/api/v1/events", None)],
        "config": None,  # stateful: see run_config
    }

def run_requests(port, token, work, lat, errors, serial_id):
    cl = Client(port, token)
    for item in work:
        if item[0] == "config":
            _, input_id, name = item
            st, body, dt = cl.call("POST", f"/api/v1/inputs/{input_id}/outputs",
                                   {"name": name, "pull": "rtmp", "key": f"k-{name}"})
            lat.append(dt)
            if st != 201:
                errors.append(st)
                continue
            st, _, dt = cl.call("DELETE", f"/api/v1/outputs/{body['id']}")
            lat.append(dt)
            if st not in (200, 204):
                errors.append(st)
        else:
            st, _, dt = cl.call(*item)
            lat.append(dt)
            if st != 200:
                errors.append(st)

def phase(port, tokens, name, ids, concurrent, rnd, b):
    now = datetime.now(timezone.utc)
    table = calls(ids, now)
    if name == "config":
        n = N // 2  # each is two requests
        work = [("config", ids[j % len(ids)], f"bench-{b}-{rnd}-{int(concurrent)}-{j}") for j in range(n)]
    else:
        work = [table[name](j)[0] for j in range(N)]
    clients = C if concurrent else 1
    shares = [work[k::clients] for k in range(clients)]
    lats = [[] for _ in range(clients)]
    errors = []
    threads = [threading.Thread(target=run_requests, args=(port, tokens.pop(), shares[k], lats[k], errors, k))
               for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - t0
    all_lat = sorted(x for l in lats for x in l)
    return all_lat, wall, errors

def pct(xs, p):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

builds = [setup(i) for i in range(len(BINS))]
relevo_pids = [int(p) for p in os.environ["RELEVO_PIDS"].split()]
time.sleep(2)

names = ["status", "inputs", "history", "events", "config"]
results = {(b, n, m): [] for b in range(len(BINS)) for n in names for m in ("seq", "conc")}
cpu = {b: [0, 0] for b in range(len(BINS))}
failures = 0
hz = os.sysconf("SC_CLK_TCK")
for rnd in range(ROUNDS):
    order = list(range(len(BINS)))
    if rnd % 2:
        order.reverse()
    for b in order:
        port, ids, all_tokens = builds[b]
        tokens = list(all_tokens)
        time.sleep(4)  # the rate-limit buckets of the tokens refill (not measured)
        before = cpu_ticks(relevo_pids[b])
        for name in names:
            for concurrent in (False, True):
                lat, wall, errors = phase(port, tokens, name, ids, concurrent, rnd, b)
                mode = "conc" if concurrent else "seq"
                results[(b, name, mode)].append((lat, wall))
                if errors:
                    failures += len(errors)
                    print(f"build {b} round {rnd} {name} {mode}: {len(errors)} failed: {sorted(set(errors))}", file=sys.stderr)
        after = cpu_ticks(relevo_pids[b])
        cpu[b][0] += after[0] - before[0]
        cpu[b][1] += after[1] - before[1]

print(f"{N} requests per call and mode ({C} clients at once in 'conc'), {ROUNDS} rounds, "
      f"{INPUTS} inputs, {DAYS} days of history; load {open('/proc/loadavg').read().split()[:3]}")
print(f"{'build':<34} {'call':<8} {'mode':<5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
for b, binary in enumerate(BINS):
    for name in names:
        for mode in ("seq", "conc"):
            runs = results[(b, name, mode)]
            lat = sorted(x for l, _ in runs for x in l)
            rps = sum(len(l) for l, _ in runs) / sum(w for _, w in runs)
            print(f"{'AB'[b] + ':' + os.path.basename(binary)[:32]:<34} {name:<8} {mode:<5} {pct(lat, 50) * 1000:8.2f} {pct(lat, 99) * 1000:8.2f} {rps:8.0f}")
for b, binary in enumerate(BINS):
    print(f"{'AB'[b]}:{os.path.basename(binary)}: CPU time over the rounds: relevo {cpu[b][0] / hz:.2f} s, "
          f"PostgreSQL {cpu[b][1] / hz:.2f} s")
sys.exit(1 if failures else 0)
PY
for i in "${!BINS[@]}"; do
  main=$(pgrep -P "${PIDS[$i]}" -x postgres | head -1 || true)
  total=0
  n=0
  if [ -n "$main" ]; then
    for p in "$main" $(pgrep -P "$main"); do
      total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
      n=$((n + 1))
    done
  fi
  echo "$([ "$i" = 0 ] && echo A || echo B):$(basename "${BINS[$i]}"): PostgreSQL after the rounds: $n processes, $((total / 1024)) MiB PSS"
done
exit $status
