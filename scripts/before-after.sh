#!/usr/bin/env bash
# Echo throughput of two sockloop builds side by side: BEFORE and AFTER
# (paths to `sockloop` binaries), alternating rounds (B A B A ...), each
# server started fresh per run, both driven by AFTER's `sockloop load`.
# Prints each run (msgs/s, and the server's CPU time per message: utime +
# stime from /proc/PID/stat over the requests completed, the steadier
# figure on a busy machine) and, per case, the medians and ratios
# after/before.
#
#   scripts/before-after.sh /tmp/before-target/release/sockloop \
#       target/release/sockloop
#
# Cases: 64 KiB messages at depth 1 and 64 B at depth 16, 100 connections.
# PIN=1 pins the server to CPU 0 and the generator to CPU 1 (taskset).
# PERF=1 also counts the server's syscalls per message (`perf stat -e
# raw_syscalls:sys_enter` attached for the run; this VM has no hardware
# counters for instructions): a figure a busy machine does not move.
# Bounded: ROUNDS (default 5) x 2 builds x 2 cases x SECS (default 2) s.
set -euo pipefail
server_cpu=()
load_cpu=()
if [ "${PIN:-0}" = 1 ]; then
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
fi
before=$1
after=$2
rounds=${ROUNDS:-5}
secs=${SECS:-2}
cases=("65536 1" "64 16")
results=$(mktemp)
trap 'rm -f "$results"' EXIT

serve() { # binary -> prints "PID ADDR"
    local out
    out=$(mktemp)
    "${server_cpu[@]}" "$1" serve --echo 127.0.0.1:0 --greet off --login off --command off \
        --udp-echo off --udp-log off --allow-root >"$out" 2>/dev/null &
    local pid=$!
    for _ in $(seq 100); do
        grep -q "listening echo tcp" "$out" && break
        sleep 0.05
    done
    echo "$pid $(awk '/listening echo tcp/ {print $4; exit}' "$out")"
    rm -f "$out"
}

for round in $(seq "$rounds"); do
    for c in "${cases[@]}"; do
        read -r size depth <<<"$c"
        for build in before after; do
            bin=$before
            [ "$build" = after ] && bin=$after
            read -r pid addr < <(serve "$bin")
            cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
            perf_out=$(mktemp)
            if [ "${PERF:-0}" = 1 ]; then
                perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$perf_out" &
                perf_pid=$!
            fi
            json=$("${load_cpu[@]}" "$after" load --service echo --target "$addr" -c 100 \
                --depth "$depth" --size "$size" -d "$secs" --json 2>/dev/null)
            cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
            instructions=0
            if [ "${PERF:-0}" = 1 ]; then
                kill -INT "$perf_pid"
                wait "$perf_pid" || true
                instructions=$(awk -F, '/sys_enter/ {print $1; exit}' "$perf_out")
            fi
            rm -f "$perf_out"
            kill "$pid"
            wait "$pid" 2>/dev/null || true
            read -r rate cpu insns < <(python3 -c 'import json,os,sys; r=json.load(sys.stdin)
assert r["requests"]["verify_errors"] == 0, "verify errors"
ticks = (int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf("SC_CLK_TCK")
done = r["requests"]["completed"]
print(round(r["throughput"]["msgs_per_sec"]), round(ticks * 1e6 / done, 3), round(int(sys.argv[3]) / done, 4))' \
                "$cpu0" "$cpu1" "${instructions:-0}" <<<"$json")
            echo "round $round size $size depth $depth $build $rate msgs/s, $cpu CPU us/msg, $insns syscalls/msg"
            echo "$size $depth $build $rate $cpu $insns" >>"$results"
        done
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for size, depth in [("65536", "1"), ("64", "16")]:
    get = lambda b, i: [float(r[i]) for r in rows if r[0] == size and r[1] == depth and r[2] == b]
    for i, what in [(3, "msgs/s"), (4, "CPU us/msg"), (5, "syscalls/msg")]:
        before, after = get("before", i), get("after", i)
        paired = statistics.median(a / b for a, b in zip(after, before) if b)
        mb, ma = statistics.median(before), statistics.median(after)
        print(f"size {size} depth {depth} {what}: before median {mb:.3f}, after median "
              f"{ma:.3f}, ratio of medians {ma / mb if mb else float('nan'):.3f}, "
              f"median of paired ratios {paired:.3f}")
EOF
