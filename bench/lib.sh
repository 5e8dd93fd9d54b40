# What bench/load.sh and bench/tenants.sh share, sourced by both from the repository's root as
# `. bench/lib.sh TOOL...`: the tools checked before anything builds, the release build, a work
# dir and the processes started there, all killed on exit.

for tool in "$@"; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install -y $tool" >&2; exit 1; }
done

cargo build --release -p fallback-host -p fallback-bench --locked
# The host's build script builds the plugins into target/plugins already; this is a no-op then.
cargo build -p json-reply --target wasm32-wasip2 --profile plugin --target-dir target/plugins --locked
WASM=target/plugins/wasm32-wasip2/plugin/json_reply.wasm
[ -f "$WASM" ] || { echo "$WASM missing" >&2; exit 1; }

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND...: runs it in the background with its output in $WORK/NAME.log and sets
# ADDR to the loopback address it reports once it listens, PID to its process id.
start() {
  local name="$1"; shift
  : >"$WORK/$name.log"
  "$@" >"$WORK/$name.log" 2>&1 &
  PID="$!"
  PIDS+=("$PID")
  ADDR=""
  for _ in $(seq 1 200); do
    ADDR="$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$name.log" | grep -E 'listening' |
      grep -oE '127\.0\.0\.1:[0-9]+' | head -1 || true)"
    [ -n "$ADDR" ] && return
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start:" >&2; cat "$WORK/$name.log" >&2; exit 1
}

# The projects both load.sh and cpu.sh set up, at the host whose API is $BASE, as $ADMIN, with
# webhooks to $UPSTREAM.
# api METHOD PATH TOKEN [JSON]: the answer's body; fails on a non-2xx status.
api() {
  curl -sS --fail-with-body -X "$1" "${BASE}$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+--data "$4"}
}
upload() { # upload PROJECT WEBHOOK KEY [FILE]: time_total in seconds
  curl -sS --fail -o /dev/null -w '%{time_total}\n' -X PUT --data-binary "@${4:-$WASM}" \
    -H "Authorization: Bearer $3" -H 'Content-Type: application/wasm' \
    "${BASE}/projects/$1/webhooks/$2/plugin"
}
webhook() { # webhook [PLUGIN_CONFIG_JSON]: the webhook spec
  local config="${1:-}"
  [ -n "$config" ] || config='{}'
  jq -nc --arg url "http://${UPSTREAM}/chat?input={latest_message}&chatId={send_id}" \
    --argjson config "$config" '{method: "GET", url: $url, timeout_ms: 5000,
      response: {extract: {reply: "$.message"}, success: "{reply}", failure: "upstream failed"},
      plugin_config: $config}'
}
project() { # project ID: creates it, with an intent, a webhook `answers` and that as fallback; prints its key
  local key
  key="$(api POST /projects "$ADMIN" "{\"id\":\"$1\",\"name\":\"$1\"}" | jq -r .api_key)"
  api PUT "/projects/$1/intents/greeting" "$key" \
    '{"examples":["hello","hi there","good morning"],"responses":["Hello from the intent!"]}' >/dev/null
  api PUT "/projects/$1/webhooks/answers" "$key" "$(webhook "${2:-}")" >/dev/null
  api PUT "/projects/$1/fallback" "$key" '{"webhook":"answers"}' >/dev/null
  echo "$key"
}
