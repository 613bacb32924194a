#!/usr/bin/env bash
# Makes docs/report-screenshot.png: a real run of three generators against
# one local server, their windows opened together with --start-at, merged
# by `sockloop report --html`, and the page photographed by headless
# Chromium (Debian: apt-get install -y chromium).
#
# Usage: scripts/report-screenshot.sh [OUT.png]   (run from the repository)
# Bounded: three 8 s windows of 5 connections each, every generator
# ramping to 600 requests/s, then 1,500/s, then down to 0 (--stages).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/report-screenshot.png}"
cargo build --release -q
bin=target/release/sockloop
work=$(mktemp -d)
"$bin" serve --echo 127.0.0.1:0 --greet off --login off --command off \
    --udp-echo off --udp-log off --allow-root >"$work/serve.out" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -qs listening "$work/serve.out" && break; sleep 0.1; done
target=$(sed -n 's/^listening echo tcp //p' "$work/serve.out")
start=$(( $(date +%s) + 3 ))
for i in 0 1 2; do
    "$bin" load --target "$target" -c 5 --stages 2s:600,4s:1500,2s:0 --start-at "$start" \
        --label "gen-$i" --json >"$work/gen-$i.json" 2>/dev/null &
done
wait %2 %3 %4
"$bin" report "$work"/gen-*.json --html "$work/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$work/profile" --window-size=1400,2150 \
    --screenshot="$out" "file://$work/report.html" 2>/dev/null
echo "wrote $out"
