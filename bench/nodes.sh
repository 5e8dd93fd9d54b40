#!/usr/bin/env bash
# Nodes bench (issue 9), release, loopback only, one process tree: the same webhook chats against
#   1. one node on SQLite (the data dir),
#   2. one node on PostgreSQL,
#   3. two nodes on one PostgreSQL database, loaded at once (half the clients each),
# spread over SEND_IDS conversations (default 10,000; wrk with bench/tenants.lua), then all on one
# conversation (hey), whose appends queue on that conversation's row lock. Prints req/s,
# p50 and p99 per case and PostgreSQL's ratios to SQLite, all measured in this run.
# PostgreSQL: $FALLBACK_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); a
# database of its own is created for the run and dropped on exit.
# Usage: bench/nodes.sh [duration per case, default 10s] [concurrency, default 32]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

DURATION="${1:-10s}"
CONCURRENCY="${2:-32}"
SERVER_URL="${FALLBACK_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
# shellcheck source=bench/lib.sh
. bench/lib.sh hey wrk curl jq awk psql

DB="fallback_bench_$$"
psql "$SERVER_URL" -Atqc "CREATE DATABASE $DB" >/dev/null
DB_URL="${SERVER_URL%/*}/$DB"
drop_database() { psql "$SERVER_URL" -Atqc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true; }
trap 'cleanup; drop_database' EXIT

start upstream target/release/bench-upstream 127.0.0.1:0
UPSTREAM="$ADDR"
ADMIN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
SECRET_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
node() { # node NAME [DATABASE_URL]: starts a host; sets ADDR
  mkdir -p "$WORK/$1"
  start "$1" env FALLBACK_ADMIN_TOKEN="$ADMIN" FALLBACK_ALLOW_NETWORKS=127.0.0.0/8 \
    FALLBACK_SECRET_KEY="$SECRET_KEY" ${2:+FALLBACK_DATABASE_URL="$2"} \
    target/release/fallback-host serve --listen 127.0.0.1:0 --data-dir "$WORK/$1"
}
node sqlite
SQLITE="$ADDR"
node pg-a "$DB_URL"
PG_A="$ADDR"
node pg-b "$DB_URL"
PG_B="$ADDR"

setup() { # setup HOST: the project `bench` with an intent and the webhook as fallback; prints its key
  local base="http://$1/v1" key
  key="$(curl -sS --fail -X POST "$base/projects" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"id":"bench","name":"bench"}' | jq -r .api_key)"
  curl -sS --fail -o /dev/null -X PUT "$base/projects/bench/intents/greeting" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"examples":["hello","good morning"],"responses":["Hello!"]}'
  curl -sS --fail -o /dev/null -X PUT "$base/projects/bench/webhooks/answers" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "$(jq -nc --arg url "http://${UPSTREAM}/chat?input={latest_message}&chatId={send_id}" \
      '{method: "GET", url: $url, timeout_ms: 5000,
        response: {extract: {reply: "$.message"}, success: "{reply}", failure: "upstream failed"}}')"
  curl -sS --fail -o /dev/null -X PUT "$base/projects/bench/fallback" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"webhook":"answers"}'
  echo "$key"
}
SQLITE_KEY="$(setup "$SQLITE")"
PG_KEY="$(setup "$PG_A")"   # the same project serves on both PostgreSQL nodes

WEBHOOK='{"send_id":"load","message":"what is the weather like"}'
SEND_IDS="${SEND_IDS:-10000}"
echo "bench $SQLITE_KEY" >"$WORK/sqlite.projects"
echo "bench $PG_KEY" >"$WORK/pg.projects"
# spread OUT HOST PROJECTS CONNECTIONS: wrk, webhook chats on random send ids among SEND_IDS
spread() {
  wrk -t1 -c "$4" -d "$DURATION" -s bench/tenants.lua "http://$2" -- "$3" "$SEND_IDS" | grep '^wrk ' >"$1"
}
# one OUT HOST KEY CONNECTIONS: hey, webhook chats all on one send id (one conversation)
one() {
  hey -z "$DURATION" -c "$4" -m POST -H "Authorization: Bearer $3" -T application/json -d "$WEBHOOK" \
    "http://$2/v1/projects/bench/chat" >"$1"
}
# summary NAME FILE...: "NAME req/s p50 p99 errors", req/s summed over the files (wrk or hey output)
summary() {
  awk -v name="$1" '
    /^wrk / { rps += $2 / $3; errors += $4; if ($5 > p50) p50 = $5; if ($6 > p99) p99 = $6 }
    /Requests\/sec:/ { rps += $2 }
    /^ *50% in/ { p50 = ($3 * 1000 > p50 ? $3 * 1000 : p50) }
    /^ *99% in/ { p99 = ($3 * 1000 > p99 ? $3 * 1000 : p99) }
    /^Status code distribution:/ { section = "status"; next }
    /^Error distribution:/ { section = "error"; next }
    section == "status" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); if ($1 != "200") errors += $2 }
    section == "error" && /\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); errors += $1 }
    END { printf "%s %.0f %.2f %.2f %d\n", name, rps, p50, p99, errors }
  ' "${@:2}" >>"$WORK/results"
}
HALF=$((CONCURRENCY / 2))
echo "measuring: $SEND_IDS conversations" >&2
spread "$WORK/w.out" "$SQLITE" "$WORK/sqlite.projects" "$CONCURRENCY"   # warm-up
spread "$WORK/s.out" "$SQLITE" "$WORK/sqlite.projects" "$CONCURRENCY"; summary "sqlite:spread" "$WORK/s.out"
spread "$WORK/w.out" "$PG_A" "$WORK/pg.projects" "$CONCURRENCY"         # warm-up
spread "$WORK/p1.out" "$PG_A" "$WORK/pg.projects" "$CONCURRENCY"; summary "pg1:spread" "$WORK/p1.out"
spread "$WORK/p2a.out" "$PG_A" "$WORK/pg.projects" "$HALF" & first="$!"
spread "$WORK/p2b.out" "$PG_B" "$WORK/pg.projects" "$HALF"; wait "$first"
summary "pg2:spread" "$WORK/p2a.out" "$WORK/p2b.out"
echo "measuring: one conversation" >&2
one "$WORK/s1.out" "$SQLITE" "$SQLITE_KEY" "$CONCURRENCY"; summary "sqlite:one" "$WORK/s1.out"
one "$WORK/o1.out" "$PG_A" "$PG_KEY" "$CONCURRENCY"; summary "pg1:one" "$WORK/o1.out"
one "$WORK/o2a.out" "$PG_A" "$PG_KEY" "$HALF" & first="$!"
one "$WORK/o2b.out" "$PG_B" "$PG_KEY" "$HALF"; wait "$first"
summary "pg2:one" "$WORK/o2a.out" "$WORK/o2b.out"

echo
echo "release, loopback, $CONCURRENCY connections, $DURATION per case; $(nproc) cores; load:$(uptime | sed 's/.*load average://')"
echo "PostgreSQL $(psql "$SERVER_URL" -Atqc 'SHOW server_version'), on this machine"
awk '
  BEGIN { printf "%-52s %9s %9s %9s %8s\n", "case", "req/s", "p50 ms", "p99 ms", "errors" }
  { split($1, part, ":"); rps[$1] = $2
    label = (part[1] == "sqlite" ? "SQLite, one node" : part[1] == "pg1" ? "PostgreSQL, one node" : "PostgreSQL, two nodes")
    what = (part[2] == "spread" ? "many conversations" : "one conversation")
    printf "%-52s %9d %9.2f %9.2f %8d\n", label ", " what, $2, $3, $4, $5 }
  END {
    print ""
    for (k = 1; k <= 2; k++) {
      kind = (k == 1 ? "spread" : "one")
      printf "%-52s one node %.2f, two nodes %.2f\n", "PostgreSQL / SQLite, " (k == 1 ? "many conversations" : "one conversation"),
        rps["pg1:" kind] / rps["sqlite:" kind], rps["pg2:" kind] / rps["sqlite:" kind]
    }
  }' "$WORK/results"
