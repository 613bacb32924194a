#!/usr/bin/env bash
# Hold CONNS idle TCP connections between `sockloop serve --workers` and
# `sockloop load --workers`, then send one request on every connection and
# count the replies. Prints connections alive, connect rate, RSS of both
# sides, kernel memory (Slab delta from /proc/meminfo) and per-connection
# figures.
#
# usage: scripts/hold.sh CONNS [HOLD_SECS]
#   env: PER_SERVER (connections per server worker, default 12000),
#        PER_LOAD (per generator worker, default 15000),
#        SOURCES (source address range, default 127.0.0.2-127.0.0.250)
#
# Leaves the machine as it found it: every process it started is stopped
# (also on Ctrl-C), and any sysctl it changes is restored.
set -uo pipefail

CONNS=${1:?usage: scripts/hold.sh CONNS [HOLD_SECS]}
HOLD=${2:-10}
# 20,000 descriptors per process here; SO_REUSEPORT spreads connections by
# hash, so leave headroom for an unlucky worker.
PER_SERVER=${PER_SERVER:-12000}
PER_LOAD=${PER_LOAD:-15000}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.250}
SERVER_WORKERS=$(( (CONNS + PER_SERVER - 1) / PER_SERVER ))
LOAD_WORKERS=$(( (CONNS + PER_LOAD - 1) / PER_LOAD ))

cd "$(dirname "$0")/.."
cargo build --release -q || exit 1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/sockloop
TMP=$(mktemp -d)
SERVER_PID=""
LOAD_PID=""
declare -A SAVED_SYSCTL=()

set_sysctl() { # name value: remember the old value, set the new one
    local path="/proc/sys/${1//.//}"
    SAVED_SYSCTL[$1]=$(cat "$path")
    echo "$2" > "$path" && echo "hold: set $1 = $2 (was ${SAVED_SYSCTL[$1]})"
}

cleanup() {
    trap - EXIT INT TERM
    [ -n "$LOAD_PID" ] && kill -TERM "$LOAD_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null
    for pid in $LOAD_PID $SERVER_PID; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    # Workers die with their parent (PR_SET_PDEATHSIG); make sure.
    pkill -KILL -f "$BIN (serve|load) .*--report" 2>/dev/null
    for name in "${!SAVED_SYSCTL[@]}"; do
        echo "${SAVED_SYSCTL[$name]}" > "/proc/sys/${name//.//}" && echo "hold: restored $name"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "hold: interrupted"; exit 130' INT TERM

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
# Resident memory (KiB) of a process and all its descendants.
tree_rss_kib() {
    local pids
    pids=$(ps -o pid= --ppid "$1"; echo "$1")
    local total=0
    for p in $pids; do
        local r
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$(( total + ${r:-0} ))
    done
    echo "$total"
}
tcp_inuse() { awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }

# 2 descriptors per loopback connection, system-wide.
need_files=$(( CONNS * 2 + 100000 ))
if [ "$(cat /proc/sys/fs/file-max)" -lt "$need_files" ]; then set_sysctl fs.file-max "$need_files"; fi

slab_before=$(meminfo Slab)
inuse_before=$(tcp_inuse)

# `serve` refuses to run as root unless told (no default port needs it).
ROOT_FLAG=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
"$BIN" serve $ROOT_FLAG --workers "$SERVER_WORKERS" --echo 127.0.0.1:0 --greet off --login off \
    --command off --udp-echo off --udp-log off --idle-timeout 0 \
    > "$TMP/serve.out" 2> "$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 600); do grep -q '^listening echo' "$TMP/serve.out" && break; sleep 0.1; done
TARGET=$(awk '/^listening echo/ { print $4 }' "$TMP/serve.out")
[ -n "$TARGET" ] || { echo "hold: server did not start"; cat "$TMP/serve.err"; exit 1; }
sleep 0.5
server_rss_before=$(tree_rss_kib "$SERVER_PID")
echo "hold: $SERVER_WORKERS server workers on $TARGET, $LOAD_WORKERS generator workers, $CONNS connections, hold ${HOLD}s"

"$BIN" load --workers "$LOAD_WORKERS" --service echo --target "$TARGET" -c "$CONNS" \
    --connect-rate 0 --connect-timeout 30 --drain-timeout 120 --idle -d "$HOLD" --source "$SOURCES" --json \
    > "$TMP/load.json" 2> "$TMP/load.err" &
LOAD_PID=$!

# Sample while the connections are held: the peak of TCP sockets in use,
# of both sides' RSS and of slab memory.
peak_inuse=0 peak_slab=0 peak_srv=0 peak_gen=0
while kill -0 "$LOAD_PID" 2>/dev/null; do
    inuse=$(tcp_inuse); slab=$(meminfo Slab)
    srv=$(tree_rss_kib "$SERVER_PID"); gen=$(tree_rss_kib "$LOAD_PID")
    [ "$inuse" -gt "$peak_inuse" ] && peak_inuse=$inuse
    [ "$slab" -gt "$peak_slab" ] && peak_slab=$slab
    [ "$srv" -gt "$peak_srv" ] && peak_srv=$srv
    [ "$gen" -gt "$peak_gen" ] && peak_gen=$gen
    sleep 0.5
done
wait "$LOAD_PID"; load_status=$?
LOAD_PID=""

python3 - "$TMP/load.json" "$CONNS" "$peak_inuse" "$inuse_before" "$slab_before" "$peak_slab" \
    "$server_rss_before" "$peak_srv" "$peak_gen" "$SERVER_WORKERS" "$LOAD_WORKERS" "$load_status" <<'PY'
import json, sys
path, conns, inuse, inuse0, slab0, slab, srv0, srv, gen, sw, lw, status = sys.argv[1:]
conns, inuse, inuse0, slab0, slab, srv0, srv, gen = map(int, (conns, inuse, inuse0, slab0, slab, srv0, srv, gen))
try:
    r = json.load(open(path))
except Exception as e:
    print(f"hold: no report from the generator ({e})"); sys.exit(1)
c, q = r["connections"], r["requests"]
ramp, rate = c["ramp_secs"], c["per_sec"]
sockets = max(inuse - inuse0, 1)
print(f"connections requested      {conns}")
print(f"connections opened         {c['opened']} (failed {c['failed']}, closed by server {c['closed_by_server']})")
print(f"alive at the end           {q['completed']} of {conns} answered their request (verify errors {q['verify_errors']})")
print(f"connect rate               {rate:,.0f}/s (ramp-up {ramp:.2f} s)")
print(f"TCP sockets in use (peak)  {inuse} (+{inuse - inuse0})")
print(f"server RSS (peak, {sw} workers)   {srv/1024:.1f} MiB, +{(srv - srv0)/1024:.1f} MiB over idle = {(srv - srv0)*1024/max(c['opened'],1):.0f} B/conn")
print(f"generator RSS (peak, {lw} workers) {gen/1024:.1f} MiB = {gen*1024/max(c['opened'],1):.0f} B/conn (including each worker's fixed buffers)")
print(f"kernel slab                +{(slab - slab0)/1024:.1f} MiB = {(slab - slab0)*1024/sockets:.0f} B/socket, {(slab - slab0)*1024/max(c['opened'],1):.0f} B/connection (2 sockets)")
print(f"generator exit status      {status}")
ok = q["completed"] == conns and c["failed"] == 0 and status == "0"
print("hold: OK" if ok else "hold: NOT ALL CONNECTIONS ALIVE")
sys.exit(0 if ok else 1)
PY
