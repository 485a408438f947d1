#!/usr/bin/env bash
# Small requests while 10 MB bodies arrive, with native clients (hey, curl) so that Python
# clients' own CPU does not hide the server's: `hey` sends one-image KServe v2 JSON requests
# (8 connections, 20 s) to `automl serve --model M` alone; then while two curl loops post 10 MB
# JSON bodies to it; then while the same loops post to a closed port (the clients' own cost,
# the server untouched). Loopback only; needs hey and curl (apt).
#
#     bash bench/bench_big_bodies.sh m.onnx
set -euo pipefail
model=$(realpath "$1")
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=8765
name=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]+'.card.json')); print(c.get('study') or sys.argv[2])" "$model" "$(basename "${model%.*}")")
side=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'.card.json'))['input']['shape'][1])" "$model")
python3 - "$work" "$side" <<'EOF'
import json, sys
work, side = sys.argv[1], int(sys.argv[2])
tensor = {"name": "input", "shape": [1, side, side, 1], "datatype": "FP32", "data": [0.5] * side * side}
json.dump({"inputs": [tensor]}, open(f"{work}/one.json", "w"))
data = ",".join(["0.5"] * 2_400_000)
open(f"{work}/big.json", "w").write(
    '{"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [' + data + "]}]}")
EOF
"$(dirname "$0")/../.venv/bin/automl" serve --model "$model" --port $port \
  --storage "sqlite:///$work/predictions.db" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$port/v2/models/$name/infer"

load() {  # $1: label
  hey -z 20s -c 8 -m POST -T application/json -D "$work/one.json" "$url" >"$work/hey.txt"
  printf '%s: %s req/s, p50 %s s, p99 %s s, %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' "$work/hey.txt")" \
    "$(awk '/ 50% in/ {print $3}' "$work/hey.txt")" \
    "$(awk '/ 99% in/ {print $3}' "$work/hey.txt")" \
    "$(grep -E '^\s+\[[0-9]+\]' "$work/hey.txt" | tr -s ' \t' ' ' | paste -sd, -)"
}

posting() {  # $1: where two loops post the 10 MB body while hey runs
  for _ in 1 2; do
    (end=$((SECONDS + 22)); while [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary "@$work/big.json" "$1" || true
    done) &
  done
}

load "alone"
posting "$url"; sleep 1; load "two curl loops posting 10 MB bodies to the server"; wait %2 %3 2>/dev/null || sleep 2
posting "http://127.0.0.1:9/"; sleep 1; load "two curl loops posting 10 MB bodies to a closed port"; wait %4 %5 2>/dev/null || sleep 2
