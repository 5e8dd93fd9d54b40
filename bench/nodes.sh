#!/usr/bin/env bash
# Nodes bench (issue 9), release, loopback only, one process tree: the same chats against
#   1. one node on SQLite (the data dir),
#   2. one node on PostgreSQL,
#   3. two nodes on one PostgreSQL database, loaded at once (half the clients each),
# for a chat matched by an intent and a chat through the webhook (declarative). Prints req/s,
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
. bench/lib.sh hey curl jq awk psql

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

MATCHED='{"send_id":"load","message":"hello"}'
WEBHOOK='{"send_id":"load","message":"what is the weather like"}'
# hey_run OUT HOST KEY BODY CONCURRENCY: a run's summary in OUT
hey_run() {
  hey -z "$DURATION" -c "$5" -m POST -H "Authorization: Bearer $3" -T application/json -d "$4" \
    "http://$2/v1/projects/bench/chat" >"$1"
}
summary() { # summary NAME FILE...: "NAME req/s p50 p99 errors", req/s summed over the files
  awk -v name="$1" '
    FNR == 1 { files++ }
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
for kind in matched webhook; do
  body="$MATCHED"; [ "$kind" = webhook ] && body="$WEBHOOK"
  echo "measuring: $kind" >&2
  hey -n 500 -c "$CONCURRENCY" -m POST -H "Authorization: Bearer $SQLITE_KEY" -T application/json -d "$body" \
    "http://$SQLITE/v1/projects/bench/chat" >/dev/null
  hey_run "$WORK/sqlite.out" "$SQLITE" "$SQLITE_KEY" "$body" "$CONCURRENCY"
  summary "sqlite:$kind" "$WORK/sqlite.out"
  hey -n 500 -c "$CONCURRENCY" -m POST -H "Authorization: Bearer $PG_KEY" -T application/json -d "$body" \
    "http://$PG_A/v1/projects/bench/chat" >/dev/null
  hey_run "$WORK/pg1.out" "$PG_A" "$PG_KEY" "$body" "$CONCURRENCY"
  summary "pg1:$kind" "$WORK/pg1.out"
  hey_run "$WORK/pg2a.out" "$PG_A" "$PG_KEY" "$body" "$((CONCURRENCY / 2))" &
  first="$!"
  hey_run "$WORK/pg2b.out" "$PG_B" "$PG_KEY" "$body" "$((CONCURRENCY / 2))"
  wait "$first"
  summary "pg2:$kind" "$WORK/pg2a.out" "$WORK/pg2b.out"
done

echo
echo "release, loopback, hey -c $CONCURRENCY -z $DURATION; $(nproc) cores; load:$(uptime | sed 's/.*load average://')"
echo "PostgreSQL $(psql "$SERVER_URL" -Atqc 'SHOW server_version'), on this machine"
awk '
  BEGIN { printf "%-40s %9s %9s %9s %8s\n", "case", "req/s", "p50 ms", "p99 ms", "errors" }
  { split($1, part, ":"); rps[$1] = $2
    label = (part[1] == "sqlite" ? "SQLite, one node" : part[1] == "pg1" ? "PostgreSQL, one node" : "PostgreSQL, two nodes")
    printf "%-40s %9d %9.2f %9.2f %8d\n", label ", " part[2], $2, $3, $4, $5 }
  END {
    print ""
    for (k = 1; k <= 2; k++) {
      kind = (k == 1 ? "matched" : "webhook")
      printf "%-40s one node %.2f, two nodes %.2f\n", "PostgreSQL / SQLite, " kind,
        rps["pg1:" kind] / rps["sqlite:" kind], rps["pg2:" kind] / rps["sqlite:" kind]
    }
  }' "$WORK/results"
