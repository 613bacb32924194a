#!/usr/bin/env bash
# Echo throughput of two sockloop builds side by side: BEFORE and AFTER
# (paths to `sockloop` binaries), alternating rounds (B A B A ...), each
# server started fresh per run, both driven by AFTER's `sockloop load`.
# Prints each run and, per case, the medians and the ratio after/before.
#
#   scripts/before-after.sh /tmp/before-target/release/sockloop \
#       target/release/sockloop
#
# Cases: 64 KiB messages at depth 1 and 64 B at depth 16, 100 connections.
# Bounded: ROUNDS (default 5) x 2 builds x 2 cases x SECS (default 2) s.
set -euo pipefail
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
    "$1" serve --echo 127.0.0.1:0 --greet off --login off --command off \
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
            json=$("$after" load --service echo --target "$addr" -c 100 \
                --depth "$depth" --size "$size" -d "$secs" --json 2>/dev/null)
            kill "$pid"
            wait "$pid" 2>/dev/null || true
            rate=$(python3 -c 'import json,sys; r=json.load(sys.stdin)
assert r["requests"]["verify_errors"] == 0, "verify errors"
print(round(r["throughput"]["msgs_per_sec"]))' <<<"$json")
            echo "round $round size $size depth $depth $build $rate msgs/s"
            echo "$size $depth $build $rate" >>"$results"
        done
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for size, depth in [("65536", "1"), ("64", "16")]:
    get = lambda b: [int(r[3]) for r in rows if r[0] == size and r[1] == depth and r[2] == b]
    before, after = get("before"), get("after")
    paired = statistics.median(a / b for a, b in zip(after, before))
    print(f"size {size} depth {depth}: before median {statistics.median(before):.0f}, "
          f"after median {statistics.median(after):.0f} msgs/s, ratio of medians "
          f"{statistics.median(after) / statistics.median(before):.3f}, median of paired "
          f"ratios {paired:.3f}")
EOF
