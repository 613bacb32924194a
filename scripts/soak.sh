#!/usr/bin/env bash
# Soak: ~60 s of connection churn on top of steady idle connections, watching
# the server's RSS and connection count. RSS must be flat after warm-up and
# the connection table must return to zero at the end.
#
# usage: scripts/soak.sh [SECS] [IDLE_CONNS] [CHURN_CONNS]
#   defaults: 60 s, 2000 idle connections, 500 connections per churn round
#   (each round: connect, exchange on every service in turn for 1 s, close).
set -uo pipefail
SECS=${1:-60}
IDLE=${2:-2000}
CHURN=${3:-500}
cd "$(dirname "$0")/.."
cargo build --release -q || exit 1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/sockloop
TMP=$(mktemp -d)
SERVER_PID="" IDLE_PID=""
cleanup() {
    trap - EXIT INT TERM
    for pid in $IDLE_PID $SERVER_PID; do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.5
    for pid in $IDLE_PID $SERVER_PID; do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# `serve` refuses to run as root unless told (no default port needs it).
ROOT_FLAG=$([ "$(id -u)" = 0 ] && echo --allow-root || true)
"$BIN" serve $ROOT_FLAG --echo 127.0.0.1:0 --greet 127.0.0.1:0 --login 127.0.0.1:0 --command 127.0.0.1:0 \
    --udp-echo 127.0.0.1:0 --udp-log off --metrics 127.0.0.1:0 --idle-timeout 0 \
    > "$TMP/serve.out" 2> "$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ "$(grep -c ^listening "$TMP/serve.out")" -ge 6 ] && break; sleep 0.1; done
addr() { awk -v s="$1" '$2 == s { print $4; exit }' "$TMP/serve.out"; }
METRICS=$(addr metrics)
metric() { # name -> value, from the server's own /metrics
    curl -s "http://$METRICS/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

"$BIN" load --service echo --target "$(addr echo)" -c "$IDLE" --idle -d "$((SECS + 5))" \
    --json > "$TMP/idle.json" 2> /dev/null &
IDLE_PID=$!

echo "  t(s)  rss(KiB)  active  accepted"
start=$(date +%s)
services=(echo greet login command udp-echo)
round=0 churn_failures=0
while [ $(( $(date +%s) - start )) -lt "$SECS" ]; do
    s=${services[$((round % ${#services[@]}))]}
    "$BIN" load --service "$s" --target "$(addr "$s")" -c "$CHURN" -d 1 --depth 4 --json \
        > "$TMP/churn.json" 2> /dev/null || churn_failures=$((churn_failures + 1))
    round=$((round + 1))
    if [ $((round % 2)) -eq 0 ]; then
        printf '%6d  %8d  %6s  %8s\n' $(( $(date +%s) - start )) "$(rss_kib)" \
            "$(metric sockloop_connections_active)" "$(metric sockloop_connections_accepted_total)"
    fi
done
wait "$IDLE_PID"; idle_status=$?
IDLE_PID=""
# The idle connections have closed; the table must be back to zero (scrapes
# are counted apart, in sockloop_metrics_*, so they never show here).
active=""
for _ in $(seq 50); do active=$(metric sockloop_connections_active); [ "$active" = 0 ] && break; sleep 0.1; done
printf '%6s  %8d  %6s  %8s  (end)\n' "end" "$(rss_kib)" "$active" "$(metric sockloop_connections_accepted_total)"
echo "churn rounds $round, failed rounds $churn_failures, idle generator exit $idle_status"
[ "$active" = 0 ] && [ "$churn_failures" -eq 0 ] && [ "$idle_status" -eq 0 ] && echo "soak: OK" || { echo "soak: FAILED"; exit 1; }
