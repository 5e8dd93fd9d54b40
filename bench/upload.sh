#!/usr/bin/env bash
# Upload time at the API, end to end (curl's time_total), for bytes the host has never compiled:
# 1. spaced: json-reply, quick-replies and llm-answer, each with a distinct custom section (a new
#    digest), one upload every GAP seconds, so each finds the host idle (the optimized compile of
#    the one before done): the latency of an upload;
# 2. back to back: BURST fresh json-reply uploads with no pause: what a client uploading in a loop
#    sees once the background compiles queue up (the CPU, not the latency, is the bound then);
# 3. a ~20 MB component (json-reply + a 20 MiB custom section), fresh each time, spaced.
# With BASELINE=/path/to/another/fallback-host the same bytes also go to that host (its own data
# dir, started beside this one), alternately, so the ratio after/before comes from one run.
# Usage: [BASELINE=...] [GAP=1.5] [BURST=10] bench/upload.sh [rounds, default 10]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

ROUNDS="${1:-10}"
GAP="${GAP:-1.5}"
BURST="${BURST:-10}"
# shellcheck source=bench/lib.sh
. bench/lib.sh curl jq awk python3
cargo build -p quick-replies -p llm-answer --target wasm32-wasip2 --profile plugin --target-dir target/plugins --locked
PLUGINS=target/plugins/wasm32-wasip2/plugin
ADMIN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

# host NAME BINARY: serves on its own data dir, with project p and webhook w; sets BASE_NAME, KEY_NAME.
host() {
  start "$1" env FALLBACK_ADMIN_TOKEN="$ADMIN" "$2" serve --listen 127.0.0.1:0 --data-dir "$WORK/$1"
  local base="http://${ADDR}/v1" key
  key="$(curl -sS --fail -X POST "$base/projects" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"id":"p","name":"p"}' | jq -r .api_key)"
  curl -sS --fail -o /dev/null -X PUT "$base/projects/p/webhooks/w" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"method":"GET","url":"http://127.0.0.1:9/x","timeout_ms":1000,
      "response":{"extract":{"reply":"$.message"},"success":"{reply}","failure":"f"}}'
  printf -v "BASE_$1" %s "$base"
  printf -v "KEY_$1" %s "$key"
}
HOSTS=(after)
host after target/release/fallback-host
if [ -n "${BASELINE:-}" ]; then
  HOSTS=(before after)
  host before "$BASELINE"
fi

# fresh FILE: FILE with a custom section no upload had, in $WORK/fresh.wasm.
fresh() {
  { cat "$1"; printf '\x00\x16\x05bench%016d' "$RANDOM$RANDOM$RANDOM"; } >"$WORK/fresh.wasm"
}
# upload HOST KIND FILE: appends "HOST KIND status seconds" to $WORK/times.
upload() {
  local base="BASE_$1" key="KEY_$1"
  echo "$1 $2 $(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X PUT --data-binary "@$3" \
    -H "Authorization: Bearer ${!key}" -H 'Content-Type: application/wasm' \
    "${!base}/projects/p/webhooks/w/plugin")" >>"$WORK/times"
}
: >"$WORK/times"

echo "spaced uploads: $ROUNDS rounds of 3 plugins, ${GAP}s apart" >&2
for _ in $(seq 1 "$ROUNDS"); do
  for plugin in json_reply quick_replies llm_answer; do
    fresh "$PLUGINS/$plugin.wasm"
    for h in "${HOSTS[@]}"; do upload "$h" "$plugin" "$WORK/fresh.wasm"; sleep "$GAP"; done
  done
done

echo "back-to-back uploads: $BURST per host" >&2
for h in "${HOSTS[@]}"; do
  for _ in $(seq 1 "$BURST"); do
    fresh "$PLUGINS/json_reply.wasm"
    upload "$h" json_reply:back-to-back "$WORK/fresh.wasm"
  done
  # Let this host's queued compiles end before the next host's burst.
  sleep "$(awk -v g="$GAP" -v n="$BURST" 'BEGIN { print g * n / 2 }')"
done

echo "~20 MB uploads: 3 per host" >&2
python3 - "$PLUGINS/json_reply.wasm" "$WORK/big.wasm" <<'PY'
import sys
wasm = open(sys.argv[1], 'rb').read()
payload = b'\x03big' + b'\0' * (20 * 1024 * 1024 - 4)
def leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7f, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
open(sys.argv[2], 'wb').write(wasm + b'\x00' + leb(len(payload)) + payload)
PY
for _ in 1 2 3; do
  fresh "$WORK/big.wasm"
  for h in "${HOSTS[@]}"; do upload "$h" 20MB "$WORK/fresh.wasm"; sleep "$GAP"; done
done

echo
echo "upload time at the API, ms; $(nproc) cores; load:$(uptime | sed 's/.*load average://')"
printf "%-26s %-7s %4s %8s %8s %8s %6s %s\n" kind host n mean median max non-2xx "after/before (mean)"
awk '
  { key = $1 " " $2; n[key]++; t = $4 * 1000; sum[key] += t; v[key, n[key]] = t
    if ($3 !~ /^2/) bad[key]++; kinds[$2] = 1; hosts[$1] = 1 }
  function median(key,   i, j, m, a, tmp) {
    m = n[key]; for (i = 1; i <= m; i++) a[i] = v[key, i]
    for (i = 2; i <= m; i++) { tmp = a[i]; for (j = i - 1; j >= 1 && a[j] > tmp; j--) a[j + 1] = a[j]; a[j + 1] = tmp }
    return (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2)
  }
  END {
    for (k in kinds) for (h in hosts) {
      key = h " " k; if (!n[key]) continue
      max = 0; for (i = 1; i <= n[key]; i++) if (v[key, i] > max) max = v[key, i]
      ratio = ""
      if (h == "after" && n["before " k]) ratio = sprintf("%.2f", (sum[key] / n[key]) / (sum["before " k] / n["before " k]))
      printf "%-26s %-7s %4d %8.1f %8.1f %8.1f %6d %s\n", k, h, n[key], sum[key] / n[key], median(key), max, bad[key] + 0, ratio
    }
  }' "$WORK/times" | sort
