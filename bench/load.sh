#!/usr/bin/env bash
# Load bench, release, loopback only, in one process tree: a fast local upstream, the bare proxy
# (the webhook's upstream call with nothing around it: the ceiling) and the host (`serve` on a
# temporary data dir), then `hey` against, one after the other:
#   1. GET /healthz                          (the host's HTTP stack only)
#   2. bare proxy                            (POST chat body -> GET upstream /chat -> JSON reply)
#   3. chat matched by an intent             (no upstream call)
#   4. chat through the webhook, declarative (extract {"reply": "$.message"})
#   5. chat through the webhook + json-reply plugin
# It prints req/s, p50, p99 and errors per case, the ratios issue 8 sets targets for, and the
# time of 20 uploads of json-reply at the API (the same bytes, then fresh ones). Everything it started is killed on exit.
# Usage: bench/load.sh [duration per case, default 10s] [concurrency, default 32]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

DURATION="${1:-10s}"
CONCURRENCY="${2:-32}"
UPLOADS="${UPLOADS:-20}"
# shellcheck source=bench/lib.sh
. bench/lib.sh hey curl jq awk

start upstream target/release/bench-upstream 127.0.0.1:0
UPSTREAM="$ADDR"
start proxy target/release/bench-proxy 127.0.0.1:0 "$UPSTREAM"
PROXY="$ADDR"
ADMIN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start host env FALLBACK_ADMIN_TOKEN="$ADMIN" FALLBACK_ALLOW_NETWORKS=127.0.0.0/8 \
  target/release/fallback-host serve --listen 127.0.0.1:0 --data-dir "$WORK/data"
HOST="$ADDR"
BASE="http://${HOST}/v1"

DECL_KEY="$(project declarative)"
PLUGIN_KEY="$(project plugin '{"field":"message"}')"
upload plugin answers "$PLUGIN_KEY" >/dev/null

CHAT_MATCHED='{"send_id":"load","message":"hello"}'
CHAT_FALLBACK='{"send_id":"load","message":"what is the weather like"}'
# A chat of each kind once, so a misconfigured case fails here rather than measuring errors.
check() { # check PROJECT KEY BODY OUTCOME
  local outcome
  outcome="$(api POST "/projects/$1/chat" "$2" "$3" | jq -r .outcome)"
  [ "$outcome" = "$4" ] || { echo "chat on $1 answered outcome $outcome, not $4" >&2; exit 1; }
}
check declarative "$DECL_KEY" "$CHAT_MATCHED" matched
check declarative "$DECL_KEY" "$CHAT_FALLBACK" success
check plugin "$PLUGIN_KEY" "$CHAT_FALLBACK" success
curl -sS --fail -o /dev/null -X POST --data "$CHAT_FALLBACK" "http://${PROXY}/chat"

# failures: the host's count of chats answered with the failure text (a busy refusal or an
# upstream or plugin error still answers 200, so hey alone would not see it).
failures() {
  curl -sS --fail "http://${HOST}/metrics" | awk '/^fallback_chats_total\{outcome="failure"\}/ { n = $2 } END { print n + 0 }'
}
# measure NAME HEY_ARGS...: a short warm-up, then `hey -z DURATION`; appends
# "NAME req/s p50_ms p99_ms errors" to $WORK/results. Errors are non-200 answers, connection
# errors and chats the host answered with the failure text.
measure() {
  local name="$1"; shift
  echo "measuring: $name" >&2
  hey -n 500 -c "$CONCURRENCY" "$@" >/dev/null
  local before
  before="$(failures)"
  hey -z "$DURATION" -c "$CONCURRENCY" "$@" >"$WORK/hey.out"
  awk -v name="$name" -v errors="$(( $(failures) - before ))" '
    /Requests\/sec:/ { rps = $2 }
    /^ *50% in/ { p50 = $3 * 1000 }
    /^ *99% in/ { p99 = $3 * 1000 }
    /^Status code distribution:/ { section = "status"; next }
    /^Error distribution:/ { section = "error"; next }
    section == "status" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); if ($1 != "200") errors += $2 }
    section == "error" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); errors += $1 }
    END { printf "%s %.0f %.2f %.2f %d\n", name, rps, p50, p99, errors }
  ' "$WORK/hey.out" >>"$WORK/results"
}
chat() { # chat PROJECT KEY BODY
  measure "$1" -m POST -H "Authorization: Bearer $2" -T application/json -d "$3" \
    "${BASE}/projects/${1%%:*}/chat"
}
measure healthz "http://${HOST}/healthz"
measure bare-proxy -m POST -T application/json -d "$CHAT_FALLBACK" "http://${PROXY}/chat"
chat declarative:matched "$DECL_KEY" "$CHAT_MATCHED"
chat declarative:webhook "$DECL_KEY" "$CHAT_FALLBACK"
chat plugin:webhook "$PLUGIN_KEY" "$CHAT_FALLBACK"

# Uploads of json-reply at the API, end to end, to a webhook no chat uses: the same bytes each
# time (the host has compiled them already), then each with a distinct 16-byte custom section
# appended (a new digest, so a fresh validation and compile each time), UPLOAD_GAP seconds apart
# so each finds the host idle: an upload is answered on baseline code and its optimized code is
# compiled after it (~0.4 s of CPU); back to back, uploads queue behind those compiles, which
# bench/upload.sh measures.
api PUT /projects/plugin/webhooks/uploads "$PLUGIN_KEY" "$(webhook '{"field":"message"}')" >/dev/null
for _ in $(seq 1 "$UPLOADS"); do upload plugin uploads "$PLUGIN_KEY"; done >"$WORK/uploads-same"
for i in $(seq 1 "$UPLOADS"); do
  sleep "${UPLOAD_GAP:-1}"
  { cat "$WASM"; printf '\x00\x16\x05bench%016d' "$i$RANDOM"; } >"$WORK/fresh.wasm"
  upload plugin uploads "$PLUGIN_KEY" "$WORK/fresh.wasm"
done >"$WORK/uploads-fresh"

echo
echo "release, loopback, hey -c $CONCURRENCY -z $DURATION; $(nproc) cores; load:$(uptime | sed 's/.*load average://')"
awk '
  function ratio(text, a, b, target,   r) {
    r = (rps[b] > 0 ? rps[a] / rps[b] : 0)
    printf "%-44s %6.2f  (target >= %s) %s%s\n", text, r, target, (r >= target + 0 ? "met" : "MISSED"),
      (err[a] + err[b] > 0 ? "  not comparable: errors in a case" : "")
  }
  BEGIN { label["healthz"] = "GET /healthz"; label["bare-proxy"] = "bare proxy (ceiling)"
          label["declarative:matched"] = "chat, intent matched"
          label["declarative:webhook"] = "chat, webhook (declarative)"
          label["plugin:webhook"] = "chat, webhook + json-reply plugin"
          printf "%-36s %9s %9s %9s %8s %8s\n", "case", "req/s", "p50 ms", "p99 ms", "p99/p50", "errors" }
  { rps[$1] = $2; err[$1] = $5; spread = ($3 > 0 ? $4 / $3 : 0)
    printf "%-36s %9d %9.2f %9.2f %8.2f %8d%s\n", label[$1], $2, $3, $4, spread, $5,
      (spread > 3 ? "  p99 > 3x p50" : "") (($5 > 0) ? "  errors" : "") }
  END {
    print ""
    ratio("webhook (declarative) / bare proxy", "declarative:webhook", "bare-proxy", "0.70")
    ratio("webhook + plugin / webhook (declarative)", "plugin:webhook", "declarative:webhook", "0.95")
    ratio("intent matched / healthz", "declarative:matched", "healthz", "0.50")
  }' "$WORK/results"
for kind in same fresh; do
  awk -v size="$(wc -c <"$WASM")" -v kind="$kind" '
    { s = $1 * 1000; total += s; if (s > max) max = s; n++ }
    END { printf "%-44s mean %.1f ms, max %.1f ms  (%d uploads of %d bytes; target <= 100 ms)\n",
          "json-reply upload at the API, " (kind == "same" ? "same bytes" : "fresh bytes"),
          total / n, max, n, size }' "$WORK/uploads-$kind"
done
# Why the host answered chats with the failure text, if it did (from its /metrics, whole run).
curl -sS --fail "http://${HOST}/metrics" |
  awk '/^fallback_webhook_failures_total\{/ && $2 > 0 { if (!shown++) print "\nwebhook failures by stage and code:"; print "  " $0 }'
