#!/usr/bin/env bash
# End-to-end check of the JS client against a fresh local 4-hospital testnet.
#
#   examples/js/run-against-testnet.sh path/to/ertrd path/to/ertrctl
#
# Creates a testnet in a temporary directory, starts its 4 nodes, registers a physician key and
# a patient with node0's admin key (ertrctl), then runs submit-and-read.mjs with that key (the
# DICOM RT plan sample when present, and a 3 MiB random document to exercise chunking) and
# check-errors.mjs (wrong passphrase, unregistered key, tampered signatures).
# Exit 0 only if everything passed; on failure the node logs are printed. Set KEEP_TESTNET=1 to
# keep the directory.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ERTRD ERTRCTL" >&2
  exit 2
fi
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
ERTRD=$(abs "$1")
ERTRCTL=$(abs "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
for b in "$ERTRD" "$ERTRCTL"; do
  [ -x "$b" ] || { echo "error: $b is not an executable" >&2; exit 2; }
done
command -v node >/dev/null || { echo "error: node (Node.js 18 or newer) is not installed" >&2; exit 2; }

say() { printf '\n== %s\n' "$*"; }

D=$(mktemp -d "${TMPDIR:-/tmp}/ertr-js-testnet.XXXXXX")
PIDS=()
ok=0
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$ok" != 1 ]; then
    for i in 0 1 2 3; do
      if [ -f "$D/node$i.log" ]; then
        echo "---------------- $D/node$i.log (last 60 lines)" >&2
        tail -n 60 "$D/node$i.log" >&2
      fi
    done
    echo "FAILED (exit $rc)" >&2
    [ "$rc" = 0 ] && rc=1
  fi
  if [ "${KEEP_TESTNET:-0}" = 1 ]; then echo "kept $D" >&2; else rm -rf "$D"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A base port P with P..P+3, P+100..P+103 and P+200..P+203 all free (as far as ss can tell).
port_busy() { ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
P=
for _ in $(seq 1 20); do
  cand=$(( 21000 + RANDOM % 7800 ))
  busy=0
  for off in 0 1 2 3 100 101 102 103 200 201 202 203; do
    if port_busy $((cand + off)); then busy=1; break; fi
  done
  if [ "$busy" = 0 ]; then P=$cand; break; fi
done
[ -n "$P" ] || { echo "error: found no free port range in 21000..29000" >&2; exit 1; }
API=127.0.0.1:$((P + 200))

say "Testnet in $D (p2p $P, http $((P + 100)), api $((P + 200)))"
"$ERTRD" testnet --dir "$D/net" --base-port "$P" --base-http-port "$((P + 100))" \
  --base-api-port "$((P + 200))"
for i in 0 1 2 3; do
  ERTR_PASSPHRASE=$(cat "$D/net/node$i/keys/passphrase") \
    "$ERTRD" start --home "$D/net/node$i" >"$D/node$i.log" 2>&1 &
  PIDS+=($!)
done

N0=$D/net/node0
ADMIN=(--node "$API" --genesis "$N0/genesis.bin" --key "$N0/keys/admin.key"
       --passphrase-file "$N0/keys/passphrase")

say "Waiting for node0's API"
for t in $(seq 1 60); do
  if "$ERTRCTL" "${ADMIN[@]}" status >"$D/status.txt" 2>&1; then break; fi
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "error: a node exited (pid $pid)" >&2; exit 1; }
  done
  [ "$t" = 60 ] && { echo "error: node0's API did not answer within 60 s:" >&2; cat "$D/status.txt" >&2; exit 1; }
  sleep 1
done
cat "$D/status.txt"

say "A physician key for the JS client, registered by hosp-a's admin"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$D/user.pass"
"$ERTRCTL" keys gen --out "$D/user.key" --kdf interactive --passphrase-file "$D/user.pass"
"$ERTRCTL" "${ADMIN[@]}" user register --user-key-file "$D/user.key" --role physician --handle js-demo

say "A patient (pseudonym only)"
"$ERTRCTL" "${ADMIN[@]}" --json patient register >"$D/patient.json"
cat "$D/patient.json"
PATIENT=$(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!/^[0-9a-f]{32}$/.test(j.pseudonym || "")) { console.error("no pseudonym in ertrctl output"); process.exit(1); }
  console.log(j.pseudonym)' "$D/patient.json")

if [ ! -d "$HERE/node_modules" ]; then
  say "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund)
fi

CLIENT=(node "$HERE/submit-and-read.mjs" --node "$API" --genesis "$N0/genesis.bin"
        --key "$D/user.key" --passphrase-file "$D/user.pass" --patient "$PATIENT")

SAMPLE="$HERE/../../../shared/data/rt-samples/pydicom/rtplan.dcm"
if [ -f "$SAMPLE" ]; then
  say "JS client: submit and read back the RT plan sample"
  "${CLIENT[@]}" --file "$SAMPLE" --kind rt-plan
else
  echo "(no $SAMPLE: skipping the DICOM sample)"
fi

say "JS client: submit and read back a 3 MiB random document (several chunks)"
head -c $((3 << 20)) /dev/urandom >"$D/random.bin"
"${CLIENT[@]}" --file "$D/random.bin" --kind document

say "Error cases"
printf 'not the passphrase\n' >"$D/wrong.pass"
"$ERTRCTL" keys gen --out "$D/stranger.key" --kdf interactive --passphrase-file "$D/user.pass"
expect_failure() {  # expect_failure WHAT EXPECTED-TEXT COMMAND...
  local what=$1 want=$2; shift 2
  local rc=0
  "$@" >"$D/neg.out" 2>&1 || rc=$?
  if [ "$rc" = 0 ] || ! grep -q -- "$want" "$D/neg.out"; then
    echo "error: $what: expected a failure mentioning '$want', got exit $rc:" >&2
    cat "$D/neg.out" >&2
    exit 1
  fi
  echo "ok  $what (exit $rc): $(grep -m1 -- "$want" "$D/neg.out")"
}
expect_failure "wrong passphrase" "wrong passphrase" \
  node "$HERE/submit-and-read.mjs" --node "$API" --genesis "$N0/genesis.bin" --key "$D/user.key" \
  --passphrase-file "$D/wrong.pass" --patient "$PATIENT" --file "$D/random.bin" --kind document
expect_failure "unregistered key" "UNAUTHENTICATED.*registered user" \
  node "$HERE/submit-and-read.mjs" --node "$API" --genesis "$N0/genesis.bin" --key "$D/stranger.key" \
  --passphrase-file "$D/user.pass" --patient "$PATIENT" --file "$D/random.bin" --kind document
expect_failure "remote node without TLS" "not on this machine" \
  node "$HERE/submit-and-read.mjs" --node 192.0.2.1:26800 --genesis "$N0/genesis.bin" --key "$D/user.key" \
  --passphrase-file "$D/user.pass" --patient "$PATIENT" --file "$D/random.bin" --kind document
node "$HERE/check-errors.mjs" --node "$API" --genesis "$N0/genesis.bin" --key "$D/user.key" \
  --passphrase-file "$D/user.pass" --patient "$PATIENT"

ok=1
say "PASS: the JS client submitted, committed, read back and audited records on a live testnet"
