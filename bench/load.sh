#!/usr/bin/env bash
# Load bench: the release host in demo mode under `hey`, on loopback only. Prints requests/s for
#   1. GET /healthz              (the baseline: HTTP stack only)
#   2. chat matched by an intent (auth + SQLite reads + intent index + turn write)
#   3. chat through the webhook  (2 + outbound HTTP to the local answer API + json-reply plugin)
# and each as a ratio of the baseline measured in the same run, since the machine is shared.
# Usage: bench/load.sh [requests per case, default 20000] [concurrency, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${1:-20000}"
CONCURRENCY="${2:-32}"
PORT="${PORT:-18181}"
command -v hey >/dev/null || { echo "hey not found: apt-get install -y hey" >&2; exit 1; }

cargo build --release -p fallback-host --locked
OUT="$(mktemp)"
./target/release/fallback-host demo --listen "127.0.0.1:${PORT}" >"$OUT" 2>/dev/null &
HOST_PID=$!
trap 'kill "$HOST_PID" 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 1 100); do
  grep -q 'Press Ctrl-C' "$OUT" 2>/dev/null && break
  sleep 0.1
done
KEY="$(grep -o 'fbk_demo\.[0-9a-f]*' "$OUT" | head -1)"
[ -n "$KEY" ] || { echo "demo did not start" >&2; exit 1; }
BASE="http://127.0.0.1:${PORT}"

rate() { # hey's "Requests/sec" line, after a short warm-up with the same request
  hey -n 500 -c "$CONCURRENCY" "$@" >/dev/null
  hey -n "$REQUESTS" -c "$CONCURRENCY" "$@" | awk '/Requests\/sec/ {print $2}'
}
chat() {
  rate -m POST -H "Authorization: Bearer ${KEY}" -H 'Content-Type: application/json' \
    -d "{\"send_id\":\"load\",\"message\":\"$1\"}" "${BASE}/v1/projects/demo/chat"
}

HEALTH="$(rate "${BASE}/healthz")"
MATCHED="$(chat 'hello')"
WEBHOOK="$(chat 'what is the weather like')"

printf '%-34s %12s %10s\n' case 'requests/s' 'vs baseline'
for row in "healthz (baseline):${HEALTH}" "chat, intent matched:${MATCHED}" "chat, webhook + plugin:${WEBHOOK}"; do
  name="${row%%:*}"; value="${row##*:}"
  printf '%-34s %12.0f %10.2f\n' "$name" "$value" "$(awk -v a="$value" -v b="$HEALTH" 'BEGIN {print a / b}')"
done
