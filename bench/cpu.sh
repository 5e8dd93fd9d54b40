#!/usr/bin/env bash
# CPU per request, release, loopback only, in one process tree: the bare proxy and the host
# (and, with BEFORE=path/to/an/older/fallback-host, that binary too, alternating with the new
# one each round) under the same `hey` load. For every case it reads the server's own utime +
# stime from /proc/PID/stat around a `hey -z DURATION` run and divides by the answers counted:
# CPU µs per request, far less sensitive to a shared machine's noise than req/s (a busy
# neighbour slows a request down, it does not make it cost more CPU). The upstream's CPU per
# request is shown too: a client that keeps its connections costs the upstream less.
# Cases: bare proxy; per host /healthz, chat matched by an intent, chat through the webhook
# (declarative) and with the json-reply plugin. It prints the median over ROUNDS of each
# figure, and the ratios of issue 8 both as req/s and as CPU per request.
# Usage: bench/cpu.sh [duration per case, default 5s] [concurrency, default 32]
# Environment: ROUNDS (3), BEFORE (unset: the new host alone), PROFILE_CASE (a case name, e.g.
# `webhook`: `perf record -g` on the new host during that case, the report in $PERF_OUT).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

DURATION="${1:-5s}"
CONCURRENCY="${2:-32}"
ROUNDS="${ROUNDS:-3}"
BEFORE="${BEFORE:-}"
PROFILE_CASE="${PROFILE_CASE:-}"
PERF_OUT="${PERF_OUT:-perf.data}"
# shellcheck source=bench/lib.sh
. bench/lib.sh hey curl jq awk
TICK="$(getconf CLK_TCK)"

start upstream target/release/bench-upstream 127.0.0.1:0
UPSTREAM="$ADDR"
UPSTREAM_PID="$PID"
start proxy target/release/bench-proxy 127.0.0.1:0 "$UPSTREAM"
PROXY="$ADDR"
PROXY_PID="$PID"
ADMIN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

CHAT_MATCHED='{"send_id":"load","message":"hello"}'
CHAT_FALLBACK='{"send_id":"load","message":"what is the weather like"}'

# start_host NAME BINARY: starts it on its own data dir, sets up a declarative and a plugin
# project on it and checks a chat of each kind; sets <NAME>_HOST, <NAME>_PID, <NAME>_DECL and
# <NAME>_PLUGIN (the projects' keys).
start_host() {
  local name="$1" binary="$2"
  # `env` execs the host, so PID is the host's own.
  start "$name" env FALLBACK_ADMIN_TOKEN="$ADMIN" FALLBACK_ALLOW_NETWORKS=127.0.0.0/8 \
    "$binary" serve --listen 127.0.0.1:0 --data-dir "$WORK/data-$name"
  BASE="http://${ADDR}/v1"
  printf -v "${name}_HOST" %s "$ADDR"
  printf -v "${name}_PID" %s "$PID"
  printf -v "${name}_DECL" %s "$(project declarative)"
  printf -v "${name}_PLUGIN" %s "$(project plugin '{"field":"message"}')"
  local key="${name}_PLUGIN"
  upload plugin answers "${!key}" >/dev/null
  check declarative "${name}_DECL" "$CHAT_MATCHED" matched
  check declarative "${name}_DECL" "$CHAT_FALLBACK" success
  check plugin "${name}_PLUGIN" "$CHAT_FALLBACK" success
}
check() { # check PROJECT KEY_VARIABLE BODY OUTCOME
  local outcome
  outcome="$(api POST "/projects/$1/chat" "${!2}" "$3" | jq -r .outcome)"
  [ "$outcome" = "$4" ] || { echo "chat on $1 answered outcome $outcome, not $4" >&2; exit 1; }
}
HOSTS=(new)
start_host new target/release/fallback-host
if [ -n "$BEFORE" ]; then
  HOSTS+=(before)
  start_host before "$BEFORE"
fi
curl -sS --fail -o /dev/null -X POST --data "$CHAT_FALLBACK" "http://${PROXY}/chat"

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# measure NAME PID HEY_ARGS...: a short warm-up, then `hey -z DURATION`; appends "NAME req/s
# server_us upstream_us errors" to $WORK/results.
measure() {
  local name="$1" pid="$2"; shift 2
  echo "measuring: $name" >&2
  hey -n 1000 -c "$CONCURRENCY" "$@" >/dev/null
  local perf=""
  if [ "$name" = "new:$PROFILE_CASE" ]; then
    perf record -g -o "$PERF_OUT" -p "$pid" 2>/dev/null &
    perf="$!"
  fi
  local server upstream
  server="$(ticks "$pid")"
  upstream="$(ticks "$UPSTREAM_PID")"
  hey -z "$DURATION" -c "$CONCURRENCY" "$@" >"$WORK/hey.out"
  server=$(( $(ticks "$pid") - server ))
  upstream=$(( $(ticks "$UPSTREAM_PID") - upstream ))
  if [ -n "$perf" ]; then kill -INT "$perf"; wait "$perf" || true; fi
  awk -v name="$name" -v server="$server" -v upstream="$upstream" -v tick="$TICK" '
    /Requests\/sec:/ { rps = $2 }
    /^Status code distribution:/ { section = "status"; next }
    /^Error distribution:/ { section = "error"; next }
    section == "status" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); n += $2; if ($1 != "200") errors += $2 }
    section == "error" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); errors += $1 }
    END { printf "%s %.0f %.1f %.1f %d\n", name, rps, server * 1e6 / tick / n, upstream * 1e6 / tick / n, errors }
  ' "$WORK/hey.out" >>"$WORK/results"
}
measure_host() { # measure_host NAME
  local name="$1" host pid decl plugin
  host="${name}_HOST"; pid="${name}_PID"; decl="${name}_DECL"; plugin="${name}_PLUGIN"
  local base="http://${!host}/v1/projects"
  measure "$name:healthz" "${!pid}" "http://${!host}/healthz"
  measure "$name:matched" "${!pid}" -m POST -H "Authorization: Bearer ${!decl}" -T application/json \
    -d "$CHAT_MATCHED" "$base/declarative/chat"
  measure "$name:webhook" "${!pid}" -m POST -H "Authorization: Bearer ${!decl}" -T application/json \
    -d "$CHAT_FALLBACK" "$base/declarative/chat"
  measure "$name:plugin" "${!pid}" -m POST -H "Authorization: Bearer ${!plugin}" -T application/json \
    -d "$CHAT_FALLBACK" "$base/plugin/chat"
}
: >"$WORK/results"
LOADS=()
for round in $(seq 1 "$ROUNDS"); do
  measure proxy "$PROXY_PID" -m POST -T application/json -d "$CHAT_FALLBACK" "http://${PROXY}/chat"
  # Alternate which host goes first, so a change in the machine's load hits both alike.
  if (( round % 2 )); then order=("${HOSTS[@]}"); else order=(); for ((i = ${#HOSTS[@]} - 1; i >= 0; i--)); do order+=("${HOSTS[i]}"); done; fi
  for name in "${order[@]}"; do measure_host "$name"; done
  LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
done

echo
echo "release, loopback, hey -c $CONCURRENCY -z $DURATION, median of $ROUNDS rounds; $(nproc) cores;" \
  "load (1 min) after each round: ${LOADS[*]}"
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { if (!($1 in rps)) order[++count] = $1
    rps[$1] = rps[$1] " " $2; cpu[$1] = cpu[$1] " " $3; up[$1] = up[$1] " " $4; err[$1] += $5 }
  END {
    printf "%-16s %9s %14s %16s %7s\n", "case", "req/s", "server us/req", "upstream us/req", "errors"
    for (i = 1; i <= count; i++) {
      c = order[i]; R[c] = median(rps[c]); C[c] = median(cpu[c])
      printf "%-16s %9d %14.1f %16.1f %7d\n", c, R[c], C[c], median(up[c]), err[c]
    }
    print ""
    printf "%-36s %8s %22s\n", "ratio", "req/s", "CPU (inverse: b/a)"
    for (i = 1; i <= count; i++) {
      c = order[i]; split(c, p, ":"); h = p[1]
      if (p[2] == "webhook") show(h ": webhook / bare proxy", c, "proxy", "0.70")
      if (p[2] == "plugin") show(h ": plugin / webhook (declarative)", c, h ":webhook", "0.95")
      if (p[2] == "matched") show(h ": matched / healthz", c, h ":healthz", "0.50")
    }
  }
  function show(text, a, b, target) {
    printf "%-36s %8.2f %22.2f  (target >= %s)\n", text, R[a] / R[b], C[b] / C[a], target
  }' "$WORK/results"
