#!/usr/bin/env bash
# Many-tenants bench (issue 8 item 4), release, loopback only, in one process tree: a fast local
# upstream and the host (`serve` on a temporary data dir); `bench-tenants` sets up PROJECTS
# projects at the API (each: an intent, a webhook to the upstream as its fallback; PLUGINS of
# them, evenly spread, with their own distinct json-reply plugin), then `wrk` runs, one after
# the other, for DURATION each:
#   1. single: one project (declarative webhook), one send id: the baseline;
#   2. tenants: a random project and a random send id among SEND_IDS per request,
#      with the host's RSS (VmRSS) sampled every 5 s.
# Every chat's message falls to the webhook. It prints req/s, p50, p99 and errors of both, the
# ratio tenants / single (target >= 0.8) and the RSS samples with first/last/max and their slope
# (target: flat). Everything it started is killed on exit.
# The chat rate limit (`chat_rate_per_second`) is off by default and left off for both runs.
# Usage: bench/tenants.sh [duration per run, default 60s] [concurrency, default 32]
# Environment: PROJECTS (10000), PLUGINS (100), SEND_IDS (100000), WARMUP (10s).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

DURATION="${1:-60s}"
CONCURRENCY="${2:-32}"
PROJECTS="${PROJECTS:-10000}"
PLUGINS="${PLUGINS:-100}"
SEND_IDS="${SEND_IDS:-100000}"
WARMUP="${WARMUP:-10s}"
# shellcheck source=bench/lib.sh
. bench/lib.sh wrk curl jq awk

start upstream target/release/bench-upstream 127.0.0.1:0
UPSTREAM="$ADDR"
ADMIN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# `env` execs the host, so PID is the host's own.
start host env FALLBACK_ADMIN_TOKEN="$ADMIN" FALLBACK_ALLOW_NETWORKS=127.0.0.0/8 \
  target/release/fallback-host serve --listen 127.0.0.1:0 --data-dir "$WORK/data"
HOST="$ADDR"
HOST_PID="$PID"
BASE="http://${HOST}/v1"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$HOST_PID/status"; }
RSS_START="$(rss_kib)"

api() { # api METHOD PATH TOKEN [JSON]: the answer's body; fails on a non-2xx status.
  curl -sS --fail-with-body -X "$1" "${BASE}$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+--data "$4"}
}

# The baseline project, set up as every tenant is (by the same binary, declarative webhook),
# then the tenants, timed.
echo "setting up the baseline project, then $PROJECTS projects ($PLUGINS with plugins)" >&2
target/release/bench-tenants "$HOST" "$ADMIN" "$UPSTREAM" "$WASM" "$WORK/single.txt" 1 0 single 2>/dev/null
target/release/bench-tenants "$HOST" "$ADMIN" "$UPSTREAM" "$WASM" "$WORK/tenants.txt" \
  "$PROJECTS" "$PLUGINS" t 2>&1 | tee "$WORK/setup.log" >&2
RSS_SETUP="$(rss_kib)"

# A chat of each kind once, so a misconfigured setup fails here rather than measuring errors.
CHAT='{"send_id":"check","message":"what is the weather like"}'
check() { # check PROJECT KEY OUTCOME REPLY
  local answer
  answer="$(api POST "/projects/$1/chat" "$2" "$CHAT")"
  [ "$(jq -r .outcome <<<"$answer")" = "$3" ] && [ "$(jq -r '.replies[0].text' <<<"$answer")" = "$4" ] ||
    { echo "chat on $1 answered $answer, not $3 / $4" >&2; exit 1; }
}
UPSTREAM_SAYS="The bench upstream says hello."
read -r id key <"$WORK/single.txt"; check "$id" "$key" success "$UPSTREAM_SAYS"
read -r id key <"$WORK/tenants.txt"; check "$id" "$key" success "$UPSTREAM_SAYS"

# failures: the host's count of chats answered with the failure text (a busy refusal or an
# upstream or plugin error still answers 200, so wrk alone would not see it).
failures() {
  curl -sS --fail "http://${HOST}/metrics" | awk '/^fallback_chats_total\{outcome="failure"\}/ { n = $2 } END { print n + 0 }'
}
# measure NAME FILE SEND_IDS: a warm-up, then wrk for DURATION; appends "NAME req/s p50_ms
# p99_ms errors" to $WORK/results. Errors are non-2xx answers, socket errors and chats the host
# answered with the failure text. For `tenants` the host's RSS is sampled every 5 s meanwhile.
measure() {
  local name="$1" file="$2" ids="$3"
  echo "measuring: $name (warm-up $WARMUP, then $DURATION)" >&2
  wrk -t2 -c "$CONCURRENCY" -d "$WARMUP" -s bench/tenants.lua "http://${HOST}" -- "$file" "$ids" >/dev/null
  local before
  before="$(failures)"
  wrk -t2 -c "$CONCURRENCY" -d "$DURATION" -s bench/tenants.lua "http://${HOST}" -- "$file" "$ids" \
    >"$WORK/wrk-$name.out" &
  local wrk_pid="$!"
  PIDS+=("$wrk_pid")
  if [ "$name" = tenants ]; then
    local t=0
    while kill -0 "$wrk_pid" 2>/dev/null; do
      echo "$t $(rss_kib)" >>"$WORK/rss"
      sleep 5
      t=$((t + 5))
    done
  fi
  wait "$wrk_pid"
  awk -v name="$name" -v failed="$(( $(failures) - before ))" '
    /^wrk / { printf "%s %.0f %.2f %.2f %d\n", name, $2 / $3, $5, $6, $4 + failed }
  ' "$WORK/wrk-$name.out" >>"$WORK/results"
}
measure single "$WORK/single.txt" 1
measure tenants "$WORK/tenants.txt" "$SEND_IDS"

echo
echo "release, loopback, wrk -t2 -c $CONCURRENCY -d $DURATION (after $WARMUP warm-up); $(nproc) cores; load:$(uptime | sed 's/.*load average://')"
echo "tenants: $PROJECTS projects ($PLUGINS distinct json-reply plugins), $SEND_IDS send ids; single: 1 project, 1 send id"
grep -v '^  ' "$WORK/setup.log" | sed 's/^/setup: /' || true
awk '
  BEGIN { label["single"] = "single project, one send id (baseline)"
          label["tenants"] = "random project and send id"
          printf "%-40s %9s %9s %9s %8s\n", "case", "req/s", "p50 ms", "p99 ms", "errors" }
  { rps[$1] = $2; err[$1] = $5; printf "%-40s %9d %9.2f %9.2f %8d\n", label[$1], $2, $3, $4, $5 }
  END { printf "\n%-40s %9.2f  (target >= 0.80)%s\n", "tenants / single", (rps["single"] > 0 ? rps["tenants"] / rps["single"] : 0),
          (err["single"] + err["tenants"] > 0 ? "  not comparable: errors in a run" : "") }
' "$WORK/results"
# RSS: the samples, then first/last/max and the least-squares slope over the whole run and over
# its second half (past the warm-up of whatever the run fills: caches, the store's pages).
awk -v start="$RSS_START" -v setup="$RSS_SETUP" '
  function slope(from,    i, k, st, sr, mt, mr, num, den) {
    for (i = from; i < n; i++) { st += t[i]; sr += r[i]; k++ }
    if (k < 2) return 0
    mt = st / k; mr = sr / k
    for (i = from; i < n; i++) { num += (t[i] - mt) * (r[i] - mr); den += (t[i] - mt) ^ 2 }
    return den > 0 ? num / den * 60 : 0
  }
  BEGIN { n = 0 }
  { t[n] = $1; r[n] = $2 / 1024; n++ }
  END {
    printf "\nhost RSS: %.1f MiB at start, %.1f MiB after setup; during the tenants run (every 5 s):\n  ", start / 1024, setup / 1024
    for (i = 0; i < n; i++) { printf "%s%.1f", (i ? " " : ""), r[i]; if (r[i] > max) max = r[i] }
    printf " MiB\n  first %.1f, last %.1f, max %.1f MiB; slope %.2f MiB/min over the run, %.2f MiB/min over its second half (target: flat)\n",
      r[0], r[n - 1], max, slope(0), slope(int(n / 2))
  }' "$WORK/rss"
# Why the host answered chats with the failure text, if it did (from its /metrics, whole run).
curl -sS --fail "http://${HOST}/metrics" |
  awk '/^fallback_webhook_failures_total\{/ && $2 > 0 { if (!shown++) print "\nwebhook failures by stage and code:"; print "  " $0 }'
curl -sS --fail "http://${HOST}/metrics" |
  awk '/^fallback_plugin_(compiles_total|cache_bytes|cache_evictions_total)/ { if (!shown++) print "\nplugins (host metrics, whole run):"; print "  " $0 }'
