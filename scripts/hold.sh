#!/usr/bin/env bash
# Hold CONNS idle TCP connections between `sockloop serve --workers` and
# `sockloop load --workers`, then send one request on every connection and
# count the replies. Prints connections alive, the connect rate, each side's
# UNIQUE memory (RssAnon summed over its processes: never VmRSS, which counts
# the binary's shared pages once per process) as a per-process base plus a
# per-connection delta, the kernel's memory per socket (Slab and
# MemAvailable, sampled once every socket is open) and the kernel's counters
# of the ramp (listen queue overflows, SYN retransmits).
#
# Before it starts anything it asks the generator's preflight whether the
# run fits this host (memory, files) and stops if not; FORCE=1 runs anyway.
#
# usage: scripts/hold.sh CONNS [HOLD_SECS]   (HOLD_SECS default: 10 + CONNS/15000)
#   env: PER_SERVER (connections per server worker, default 12000),
#        PER_LOAD (per generator worker, default 15000),
#        SOURCES (source address range, default 127.0.0.2-127.0.0.250),
#        FORCE=1 (run even if the preflight refuses)
#
# Leaves the machine as it found it: every process it started is stopped
# (also on Ctrl-C), and any sysctl it changes is restored.
set -uo pipefail

CONNS=${1:?usage: scripts/hold.sh CONNS [HOLD_SECS]}
# Each generator worker holds for HOLD_SECS after its own ramp-up, so the
# hold must outlast the spread of the workers' ramps, or the first workers
# end before the last are up and no moment has every connection open (seen
# at 1.5M and 1.9M with 10 s and 40 s holds). Default: 10 s plus one second
# per 15,000 connections (the slowest ramp measured here, 17,970/s at 1.5M
# with the machine busy, rounded down).
RAMP_GUESS=$(( CONNS / 15000 ))
HOLD=${2:-$(( 10 + RAMP_GUESS ))}
if [ "$HOLD" -lt "$RAMP_GUESS" ]; then
    echo "hold: warning: a ${HOLD}s hold is shorter than the ramp may take (~${RAMP_GUESS}s at 15,000/s):" \
         "the hold figures may be missing (the default is $(( 10 + RAMP_GUESS ))s)" >&2
fi
# 20,000 descriptors per process here; SO_REUSEPORT spreads connections by
# hash, so leave headroom for an unlucky worker.
PER_SERVER=${PER_SERVER:-12000}
PER_LOAD=${PER_LOAD:-15000}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.250}
FORCE_FLAG=$([ "${FORCE:-0}" = 1 ] && echo --force || true)
SERVER_WORKERS=$(( (CONNS + PER_SERVER - 1) / PER_SERVER ))
LOAD_WORKERS=$(( (CONNS + PER_LOAD - 1) / PER_LOAD ))

cd "$(dirname "$0")/.."
cargo build --release -q || exit 1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/sockloop
TMP=$(mktemp -d)
SERVER_PID=""
LOAD_PID=""
REF_PID=""
declare -A SAVED_SYSCTL=()

set_sysctl() { # name value: remember the old value, set the new one
    local path="/proc/sys/${1//.//}"
    SAVED_SYSCTL[$1]=$(cat "$path")
    echo "$2" > "$path" && echo "hold: set $1 = $2 (was ${SAVED_SYSCTL[$1]})"
}

cleanup() {
    trap - EXIT INT TERM
    [ -n "$REF_PID" ] && kill -TERM "$REF_PID" 2>/dev/null
    [ -n "$LOAD_PID" ] && kill -TERM "$LOAD_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null
    for pid in $REF_PID $LOAD_PID $SERVER_PID; do
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
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
# Unique memory (RssAnon, KiB) summed over the given pids.
rss_anon_kib() {
    local files=()
    for p in "$@"; do files+=("/proc/$p/status"); done
    [ ${#files[@]} -gt 0 ] || { echo 0; return; }
    awk '/^RssAnon:/ { s += $2 } END { print s + 0 }' "${files[@]}" 2>/dev/null || echo 0
}
tcp_inuse() { awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }
# Descriptors the given processes hold (the server workers: one per
# connection they accepted, plus their listeners and pipes).
fds() { local n=0 p; for p in "$@"; do n=$(( n + $(ls "/proc/$p/fd" 2>/dev/null | wc -l) )); done; echo "$n"; }
# A TcpExt counter of /proc/net/netstat (a line of names, then of values).
tcpext() {
    awk -v k="$1" '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 } else print $col[k] }' \
        /proc/net/netstat
}

# 2 descriptors per loopback connection, system-wide.
need_files=$(( CONNS * 2 + 100000 ))
if [ "$(cat /proc/sys/fs/file-max)" -lt "$need_files" ]; then set_sysctl fs.file-max "$need_files"; fi

# Ask the generator's preflight before starting anything (after raising
# fs.file-max: that limit is ours to lift, memory is not).
"$BIN" load --service echo --target 127.0.0.1:1 -c "$CONNS" --workers "$LOAD_WORKERS" --idle \
    --preflight 2>/dev/null
if [ $? -ne 0 ]; then
    if [ -z "$FORCE_FLAG" ]; then echo "hold: the preflight says this run does not fit; FORCE=1 runs it anyway"; exit 1; fi
    echo "hold: FORCE=1: running anyway"
fi

slab_before=$(meminfo Slab)
avail_before=$(meminfo MemAvailable)
inuse_before=$(tcp_inuse)
overflows_before=$(tcpext ListenOverflows)
synretrans_before=$(tcpext TCPSynRetrans)

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
SERVER_WORKER_PIDS=$(children "$SERVER_PID")
server_fds_before=$(fds $SERVER_WORKER_PIDS)
# The server workers' base: RssAnon with no connection.
server_base=$(rss_anon_kib $SERVER_WORKER_PIDS)
server_parent=$(rss_anon_kib "$SERVER_PID")

# A generator worker's base: one worker holding one connection (its loop,
# histograms and buffers; run with the flags a `--workers` parent gives it),
# read once the server holds the connection and the worker has sent its
# first second's progress record to its (absent) parent.
"$BIN" load --service echo --target "$TARGET" -c 1 --idle -d 30 --report-measurements \
    --worker-index 0 > /dev/null 2>&1 &
REF_PID=$!
for _ in $(seq 100); do [ "$(tcp_inuse)" -ge $(( inuse_before + 2 )) ] && break; sleep 0.05; done
sleep 1.5
gen_base=$(rss_anon_kib "$REF_PID")
kill -TERM "$REF_PID" 2>/dev/null; wait "$REF_PID" 2>/dev/null; REF_PID=""
for _ in $(seq 100); do [ "$(tcp_inuse)" -le "$inuse_before" ] && break; sleep 0.05; done

echo "hold: $SERVER_WORKERS server workers on $TARGET, $LOAD_WORKERS generator workers, $CONNS connections, hold ${HOLD}s"

"$BIN" load $FORCE_FLAG --workers "$LOAD_WORKERS" --service echo --target "$TARGET" -c "$CONNS" \
    --connect-rate 0 --connect-timeout 30 --drain-timeout 120 --idle -d "$HOLD" --source "$SOURCES" --json \
    > "$TMP/load.json" 2> "$TMP/load.err" &
LOAD_PID=$!

# Sample every 0.5 s: the peaks of TCP sockets in use, of slab memory and
# of both sides' unique memory. The hold figures are read once, 1 s after
# the server workers hold every connection (the ramp is over, the final
# requests not begun: the hold lasts HOLD_SECS), so they are the idle
# connections' cost. (Counted on the server's descriptors, not in
# /proc/net/sockstat, where other processes' sockets come and go; that is
# only the cheap hint of when to count.)
peak_inuse=0 peak_slab=0 peak_srv=0 peak_gen=0
hold_at="" hold_srv=0 hold_gen=0 hold_gen_parent=0 hold_slab=0 hold_avail=0 hold_inuse=0
nearly_open=$(( inuse_before + 2 * CONNS * 9 / 10 ))
LOAD_WORKER_PIDS=""
while kill -0 "$LOAD_PID" 2>/dev/null; do
    inuse=$(tcp_inuse); slab=$(meminfo Slab)
    # The workers start after their parent: look until all are there.
    [ "$(echo $LOAD_WORKER_PIDS | wc -w)" -ge "$LOAD_WORKERS" ] || LOAD_WORKER_PIDS=$(children "$LOAD_PID")
    srv=$(rss_anon_kib $SERVER_WORKER_PIDS); gen=$(rss_anon_kib $LOAD_WORKER_PIDS)
    [ "$inuse" -gt "$peak_inuse" ] && peak_inuse=$inuse
    [ "$slab" -gt "$peak_slab" ] && peak_slab=$slab
    [ "$srv" -gt "$peak_srv" ] && peak_srv=$srv
    [ "$gen" -gt "$peak_gen" ] && peak_gen=$gen
    if [ -z "$hold_at" ] && [ "$inuse" -ge "$nearly_open" ] \
        && [ $(( $(fds $SERVER_WORKER_PIDS) - server_fds_before )) -ge "$CONNS" ]; then
        sleep 1
        hold_at=$(date +%s.%N)
        hold_inuse=$(tcp_inuse); hold_slab=$(meminfo Slab); hold_avail=$(meminfo MemAvailable)
        hold_srv=$(rss_anon_kib $SERVER_WORKER_PIDS); hold_gen=$(rss_anon_kib $LOAD_WORKER_PIDS)
        hold_gen_parent=$(rss_anon_kib "$LOAD_PID")
    fi
    sleep 0.5
done
wait "$LOAD_PID"; load_status=$?
LOAD_PID=""
overflows=$(( $(tcpext ListenOverflows) - overflows_before ))
synretrans=$(( $(tcpext TCPSynRetrans) - synretrans_before ))

python3 - "$TMP/load.json" "$CONNS" "$SERVER_WORKERS" "$LOAD_WORKERS" "$load_status" \
    "$inuse_before" "$peak_inuse" "$hold_inuse" "$slab_before" "$peak_slab" "$hold_slab" \
    "$avail_before" "$hold_avail" "$server_base" "$server_parent" "$gen_base" \
    "$hold_srv" "$hold_gen" "$hold_gen_parent" "$peak_srv" "$peak_gen" "$overflows" "$synretrans" <<'PY'
import json, sys
path, status = sys.argv[1], sys.argv[5]
(conns, sw, lw, inuse0, inuse_peak, inuse_hold, slab0, slab_peak, slab_hold, avail0, avail_hold,
 srv_base, srv_parent, gen_base, srv_hold, gen_hold, gen_parent, srv_peak, gen_peak,
 overflows, synretrans) = map(int, sys.argv[2:5] + sys.argv[6:])
try:
    r = json.load(open(path))
except Exception as e:
    print(f"hold: no report from the generator ({e})"); sys.exit(1)
c, q = r["connections"], r["requests"]
opened = max(c["opened"], 1)
mib = lambda kib: f"{kib / 1024:.1f} MiB"
print(f"connections requested      {conns}")
print(f"connections opened         {c['opened']} (failed {c['failed']}, closed by server {c['closed_by_server']})")
print(f"alive at the end           {q['completed']} of {conns} answered their request (verify errors {q['verify_errors']})")
print(f"connect rate               {c['per_sec']:,.0f}/s (ramp-up {c['ramp_secs']:.2f} s)")
print(f"ramp: listen overflows     +{overflows}, SYN retransmits +{synretrans}")
print(f"TCP sockets in use         peak {inuse_peak} (+{inuse_peak - inuse0}), while holding +{inuse_hold - inuse0}")
if inuse_hold == 0:
    print("hold: the run never had every socket open at once: no hold figures")
else:
    # Two sockets per connection on loopback; counted from the run, not from
    # /proc/net/sockstat, where other processes' sockets come and go.
    sockets = 2 * opened
    srv_conn = (srv_hold - srv_base) * 1024 / opened
    gen_conn = (gen_hold - lw * gen_base) * 1024 / opened
    print("unique memory (RssAnon) while holding, base per process + per connection:")
    print(f"  server     {sw} workers {mib(srv_hold)} = {sw} x {srv_base / sw:.0f} kB (no connection)"
          f" + {srv_conn:.0f} B/conn; parent {srv_parent} kB")
    print(f"  generator  {lw} workers {mib(gen_hold)} = {lw} x {gen_base} kB (one connection)"
          f" + {gen_conn:.0f} B/conn; parent {gen_parent} kB")
    print(f"  peak, with the final requests: server {mib(srv_peak)}, generator {mib(gen_peak)}")
    print(f"kernel slab while holding  +{mib(slab_hold - slab0)} = {(slab_hold - slab0) * 1024 / sockets:.0f} B/socket"
          f" (peak +{mib(slab_peak - slab0)})")
    print(f"MemAvailable while holding -{mib(avail0 - avail_hold)} = {(avail0 - avail_hold) * 1024 / sockets:.0f} B/socket,"
          f" {(avail0 - avail_hold) * 1024 / opened:.0f} B/connection (everything: kernel and both sides)")
print(f"generator exit status      {status}")
ok = q["completed"] == conns and c["failed"] == 0 and status == "0"
print("hold: OK" if ok else "hold: NOT ALL CONNECTIONS ALIVE")
sys.exit(0 if ok else 1)
PY
