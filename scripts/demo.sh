#!/usr/bin/env bash
# The main job's scenario (README, issue 7): four radiation-oncology departments on one machine
# share treatment records through ertrchain. Uses only the public tools: ertrd, ertrctl (the gRPC
# API) and each node's read-only HTTP status. Every step is checked; the exit code is 0 only if
# each one behaved as expected.
#
#   scripts/demo.sh ERTRD ERTRCTL        (run-demo.sh builds them and calls this)
set -uo pipefail

ERTRD=$(realpath "$1")
ERTRCTL=$(realpath "$2")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SAMPLES="$ROOT/../shared/data/rt-samples"

work=$(mktemp -d "${TMPDIR:-/tmp}/ertr-demo.XXXXXX")
net="$work/net"
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Ports for 4 nodes (p2p, http, api), none of them already taken on this machine.
for _ in $(seq 50); do
  base=$((21000 + (RANDOM % 350) * 20))
  p2p=$base http=$((base + 400)) api=$((base + 800))
  free=1
  for o in 0 1 2 3; do
    for p in $((p2p + o)) $((http + o)) $((api + o)); do in_use "$p" && free=0; done
  done
  ((free)) && break
done
declare -A pid
results=()
failed=0

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
say() { printf '\n'; bold "== $*"; }
note() { printf '   %s\n' "$*"; }
pass() { results+=("PASS  $1"); printf '   \033[32mok\033[0m  %s\n' "$1"; }
fail() { results+=("FAIL  $1"); failed=1; printf '   \033[31mFAILED\033[0m  %s\n' "$1"; }

stop_all() {
  for i in "${!pid[@]}"; do kill -TERM "${pid[$i]}" 2>/dev/null; done
  for i in "${!pid[@]}"; do wait "${pid[$i]}" 2>/dev/null; done
  pid=()
}
cleanup() {
  stop_all
  if ((failed)); then
    for f in "$work"/node*.log; do
      [[ -f $f ]] || continue
      echo "---- last lines of $f"
      tail -15 "$f"
    done
    echo "node logs kept in $work (node*.log)"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

start_node() {
  local i=$1
  ERTR_PASSPHRASE=$(cat "$net/node$i/keys/passphrase") \
    "$ERTRD" start --home "$net/node$i" >>"$work/node$i.log" 2>&1 &
  pid[$i]=$!
}

# ctl NODE KEYFILE PASSFILE ARGS...: ertrctl against hospital NODE's API.
ctl() {
  local i=$1 key=$2 passfile=$3
  shift 3
  "$ERTRCTL" --node "127.0.0.1:$((api + i))" --genesis "$net/node0/genesis.bin" \
    --key "$key" --passphrase-file "$passfile" "$@"
}
field() { sed -n "s/^$1: //p" | head -1; }
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -1; }

# Polls a command until it succeeds (at most $1 seconds).
retry() {
  local secs=$1
  shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= end)) && return 1
    sleep 0.2
  done
}

metric() {  # metric NODE NAME: a value from the node's Prometheus endpoint
  local out
  exec 3<>"/dev/tcp/127.0.0.1/$((http + $1))" || return 1
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  out=$(cat <&3)
  exec 3>&-
  sed -n "s/^$2 //p" <<<"$out" | head -1
}

status_line() {  # status_line NODE: "height root" as the node reports them
  local s
  s=$(ctl "$1" "$ADMIN_A" "$PASS_A" status 2>/dev/null) || return 1
  echo "$(field height <<<"$s") $(field state_root <<<"$s")"
}

# ------------------------------------------------------------------------------------------
say "1. Four radiation-oncology departments start their nodes"
note "Each hospital runs one validator. Together they order one ledger with Byzantine fault"
note "tolerant consensus: with 4 hospitals the network keeps working while any one is down."
"$ERTRD" testnet --dir "$net" --validators 4 --base-port "$p2p" --base-http-port "$http" \
  --base-api-port "$api" | sed 's/^/   /'
for i in 0 1 2 3; do start_node "$i"; done
ADMIN_A="$net/node0/keys/admin.key" PASS_A="$net/node0/keys/passphrase"
ADMIN_B="$net/node1/keys/admin.key" PASS_B="$net/node1/keys/passphrase"
last_status=""
connected() {
  for i in 0 1 2 3; do
    if ! kill -0 "${pid[$i]}" 2>/dev/null; then
      last_status="hosp-$i's node exited: $(tail -3 "$work/node$i.log")"
      return 0  # stop waiting: it will not come up
    fi
    last_status=$(ctl "$i" "$ADMIN_A" "$PASS_A" status 2>&1)
    [[ $(field peers_connected <<<"$last_status") == 3 ]] || return 1
  done
}
if retry 60 connected && [[ $(field peers_connected <<<"$last_status") == 3 ]]; then
  pass "four nodes up, each connected to the three others"
else
  fail "the nodes did not connect; last status answer: $last_status"
  exit 1
fi

say "   Staff and a patient are registered"
note "Each department's administrator registers its own staff's public keys. The patient is"
note "known on the chain only by a random pseudonym; the hospital keeps the link to its records."
STAFF_PASS="$PASS_A"  # the demo's staff key files share one passphrase file
for who in dr-a physicist-a rv-a dr-b; do
  "$ERTRCTL" keys gen --kdf interactive --passphrase-file "$STAFF_PASS" --out "$work/$who.key" >/dev/null
done
# The patient's key has the patient's own passphrase (--sign-as-passphrase-file below).
PATIENT_PASS="$work/patient.pass"
(umask 077 && head -c 18 /dev/urandom | base64 >"$PATIENT_PASS")
"$ERTRCTL" keys gen --kdf interactive --passphrase-file "$PATIENT_PASS" --out "$work/patient.key" >/dev/null
ok=1
ctl 0 "$ADMIN_A" "$PASS_A" user register --user-key-file "$work/dr-a.key" --role physician --handle dr-a-0042 >/dev/null || ok=0
ctl 0 "$ADMIN_A" "$PASS_A" user register --user-key-file "$work/physicist-a.key" --role physicist --handle phys-a-0007 >/dev/null || ok=0
ctl 0 "$ADMIN_A" "$PASS_A" user register --user-key-file "$work/rv-a.key" --role integrator --handle rv-system-a >/dev/null || ok=0
ctl 1 "$ADMIN_B" "$PASS_B" user register --user-key-file "$work/dr-b.key" --role physician --handle dr-b-0311 >/dev/null || ok=0
patient_key=$("$ERTRCTL" keys show "$work/patient.key" | field public_key)
P=$(ctl 0 "$ADMIN_A" "$PASS_A" --json patient register --patient-key "$patient_key" | json_field pseudonym)
((${#P} == 32)) || ok=0
if ((ok)); then
  pass "physician, physicist and R&V system at A, physician at B, patient $P registered"
else
  fail "registering staff and the patient"
  exit 1
fi
DR_A=(0 "$work/dr-a.key" "$STAFF_PASS")
RV_A=(0 "$work/rv-a.key" "$STAFF_PASS")
DR_B=(1 "$work/dr-b.key" "$STAFF_PASS")

# ------------------------------------------------------------------------------------------
say "2. Hospital A's record-and-verify system submits treatment records"
note "Files are encrypted by hospital A's node as they arrive; the chain gets only the record's"
note "kind, size, ciphertext digest, uploader and time, and the data key sealed per hospital."
"$ERTRCTL" synthetic --out-dir "$work/synthetic" --patient-id SYNTH-0001 --fractions 2 >/dev/null
note "Synthetic RT Plan and RT Beams Treatment Records (clearly marked SYNTHETIC, made with DCMTK)"
large=0  # records submitted over 64 KiB of ciphertext (counted outside command substitutions)
submit() {  # submit FILE NAME: prints the record id
  local out
  out=$(ctl "${RV_A[@]}" record submit "$1" --patient "$P" --receipt-out "$work/receipt-${2//\//_}.bin") || return 1
  # The node reports the SHA-256 of the bytes it received: what any tool says of the file.
  if [[ $(field plaintext_digest <<<"$out") != "$(sha256sum <"$1" | cut -d' ' -f1)" ]]; then
    echo "   the node's plaintext_digest of $2 is not the sha256sum of the file" >&2
    return 1
  fi
  # Over 64 KiB of ciphertext, a record is a file in the uploading node's blob store.
  (($(field ciphertext_size <<<"$out") > 65536)) && large=$((large + 1))
  printf '   %-44s %-28s record %s  height %s\n' "$2" "$(field kind <<<"$out")" \
    "$(field record_id <<<"$out")" "$(field height <<<"$out")" >&2
  field record_id <<<"$out"
}
PLAN=$(submit "$work/synthetic/rt-plan.dcm" synthetic-plan) && REC1=$(submit \
  "$work/synthetic/rt-beams-treatment-record-1.dcm" synthetic-record-fraction-1)
if [[ -n ${PLAN:-} && -n ${REC1:-} ]]; then
  pass "synthetic plan and treatment record committed; the node's plaintext_digest of each is its sha256sum"
else
  fail "submitting the synthetic records"
fi
if [[ -d $SAMPLES ]]; then
  note "Real third-party DICOM RT sample files (../shared/data/rt-samples)"
  n=0 bad=0
  while IFS= read -r f; do
    name=${f#"$SAMPLES/"}
    if submit "$f" "$name" >/dev/null; then n=$((n + 1)); else bad=$((bad + 1)); fi
  done < <(find "$SAMPLES" -name '*.dcm' | sort)
  if ((bad == 0 && n > 0)); then pass "$n real RT sample files committed, kinds from their SOP class"; else fail "$bad sample file(s) refused"; fi
  # Records over 64 KiB are files in the blob store, named by the SHA-256 of their ciphertext.
  blobs=0 misnamed=0 objects=$net/node0/data/blobs/objects
  if [[ -d $objects ]]; then
    while IFS= read -r f; do
      blobs=$((blobs + 1))
      [[ $(sha256sum <"$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || misnamed=$((misnamed + 1))
    done < <(find "$objects" -type f)
  fi
  if ((blobs < large)); then
    fail "hospital A's blob store has $blobs record file(s) for $large record(s) over 64 KiB"
  elif ((misnamed > 0)); then
    fail "$misnamed of $blobs blob file(s) are not named by their sha256sum"
  elif ((blobs > 0)); then
    pass "hospital A's $blobs encrypted record file(s) on disk are each named by their sha256sum"
  fi
else
  note "(../shared/data/rt-samples is not beside this clone: real samples skipped)"
fi
note "Each submission came with a receipt; anyone with the genesis checks it offline:"
if "$ERTRCTL" receipt verify "$work/receipt-synthetic-record-fraction-1.bin" --genesis "$net/node0/genesis.bin" | sed 's/^/   /'; then
  pass "receipt verified offline (signature, Merkle path, 3 of 4 validator votes)"
else
  fail "receipt verification"
fi
cp "$work/receipt-synthetic-record-fraction-1.bin" "$work/tampered.bin"
printf '\x01' | dd of="$work/tampered.bin" bs=1 seek=100 conv=notrunc status=none
if "$ERTRCTL" receipt verify "$work/tampered.bin" --genesis "$net/node0/genesis.bin" >/dev/null 2>&1; then
  fail "a tampered receipt was accepted"
else
  pass "a receipt with one byte changed is rejected"
fi

# ------------------------------------------------------------------------------------------
say "3. Who may read: the care team yes, another hospital only with the patient's consent"
if ctl "${DR_A[@]}" record get "$REC1" --out "$work/read-by-a.dcm" >/dev/null &&
  cmp -s "$work/read-by-a.dcm" "$work/synthetic/rt-beams-treatment-record-1.dcm"; then
  pass "physician at A reads the treatment record, bit-exact"
else
  fail "physician at A reading the record"
fi
ctl "${DR_B[@]}" record get "$REC1" --out "$work/read-by-b.dcm" 2>"$work/err" >/dev/null
rc=$?
note "physician at B: $(cat "$work/err")"
if ((rc == 3)); then pass "physician at B is denied (no consent), and the refusal is audited"; else fail "physician at B was not denied (exit $rc)"; fi

note "The patient grants hospital B access, signing with their own key:"
GRANT=$(ctl 0 "$ADMIN_A" "$PASS_A" --sign-as "$work/patient.key" --sign-as-passphrase-file "$PATIENT_PASS" consent grant --patient "$P" \
  --to-institution hosp-b --expires-in 30d | field grant_id)
read_b() { ctl "${DR_B[@]}" record get "$REC1" --out "$work/read-by-b.dcm" --force; }
if [[ -n $GRANT ]] && retry 15 read_b && cmp -s "$work/read-by-b.dcm" "$work/synthetic/rt-beams-treatment-record-1.dcm"; then
  pass "after the grant, physician at B reads it through B's node, bit-exact"
else
  fail "physician at B reading after the grant"
fi
ctl 0 "$ADMIN_A" "$PASS_A" --sign-as "$work/patient.key" --sign-as-passphrase-file "$PATIENT_PASS" consent revoke --patient "$P" --grant "$GRANT" >/dev/null
denied_b() {
  local out
  out=$(read_b 2>&1 >/dev/null) && return 1
  [[ $out == *revoked* ]]
}
if retry 10 denied_b; then
  pass "the patient revokes: physician at B is denied again"
else
  fail "physician at B still reads after the revocation"
fi

# ------------------------------------------------------------------------------------------
say "4. Hospital C's node fails; the network carries on; C comes back and catches up"
kill -9 "${pid[2]}" 2>/dev/null
wait "${pid[2]}" 2>/dev/null
unset 'pid[2]'
note "hospital C's node was killed (kill -9)"
if REC2=$(submit "$work/synthetic/rt-beams-treatment-record-2.dcm" synthetic-record-fraction-2); then
  pass "with C down, a new treatment record still commits"
else
  fail "committing while C is down"
fi
start_node 2
same() {
  local ref s
  ref=$(status_line 0) || return 1
  for i in 1 2 3; do s=$(status_line "$i") || return 1; [[ $s == "$ref" ]] || return 1; done
}
if retry 60 same; then
  pass "C restarted and caught up"
else
  fail "C did not catch up"
fi
printf '   %-10s %-8s %s\n' node height "state root"
for i in 0 1 2 3; do
  read -r h r <<<"$(status_line "$i")"
  printf '   %-10s %-8s %s\n' "hosp-$(printf "\\x$(printf %x $((97 + i)))")" "$h" "$r"
done

# ------------------------------------------------------------------------------------------
say "5. An emergency: break-glass access, always flagged; then the patient erases a record"
ctl "${DR_B[@]}" break-glass --patient "$P" --reason emergency-treatment --duration 30m >/dev/null
if retry 15 read_b; then pass "physician at B reads under break-glass"; else fail "break-glass read"; fi
flagged() {
  local out
  out=$(ctl 0 "$ADMIN_A" "$PASS_A" --json audit --patient "$P") || return 1
  grep -q '"event":"access_break_glass"[^}]*"flagged":true' <<<"$out"
}
if retry 10 flagged; then pass "the break-glass read is flagged in the audit trail"; else fail "break-glass read not flagged"; fi

ctl 0 "$ADMIN_A" "$PASS_A" --sign-as "$work/patient.key" --sign-as-passphrase-file "$PATIENT_PASS" erase "$REC1" --reason patient-request >/dev/null
blobs_erased() {
  local n
  for i in 0 1 2 3; do
    n=$(metric "$i" ertr_blobs_erased_total) || return 1
    ((${n:-0} >= 1)) || return 1
  done
}
if retry 30 blobs_erased; then
  pass "every node deleted the record's encrypted file (ertr_blobs_erased_total on each)"
else
  fail "erasure did not reach every node"
fi
out=$(ctl "${DR_A[@]}" record get "$REC1" --out "$work/x" 2>&1)
note "physician at A: $out"
if [[ $out == *erased* ]]; then pass "reading the erased record says so"; else fail "the erased record still reads"; fi

# ------------------------------------------------------------------------------------------
say "6. The patient's audit trail, as the chain recorded it"
note "(who acted, at which hospital; detail: record kind, grantee, purpose or denial reason)"
ctl 0 "$ADMIN_A" "$PASS_A" --json audit --patient "$P" |
  sed 's/},{/}\n{/g; s/^\[//; s/\]$//' |
  while IFS= read -r entry; do
    h=$(sed -n 's/.*"height":\([0-9]*\).*/\1/p' <<<"$entry")
    e=$(json_field event <<<"$entry")
    inst=$(json_field actor_institution <<<"$entry")
    d=$(json_field detail <<<"$entry")
    f=$([[ $entry == *'"flagged":true'* ]] && echo FLAGGED)
    printf '   height %-4s %-20s %-8s %-32s %s\n' "$h" "$e" "${inst:--}" "$d" "$f"
  done

say "Summary"
printf '   %s\n' "${results[@]}"
stop_all
if ((failed)); then
  bold "Some steps did not behave as expected (see above)."
  exit 1
fi
bold "All steps behaved as expected. Every node was stopped."
