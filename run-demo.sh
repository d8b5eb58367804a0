#!/usr/bin/env bash
# The main job, in one command on a fresh Debian 12 machine: installs what is missing, builds,
# and shows what an ertrchain node can do today.
#
# Today (foundation): keys, encrypted key files, payload encryption, key envelopes, the blob
# store and the atomic block store, exercised for real by ertrd and ertrctl. The local
# four-hospital network scenario replaces this script's body when the networked node, the API and
# the demo land (issues 5-7); see README.md "Status".
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n== %s\n' "$*"; }

say "Installing missing Debian packages (needs root or sudo; skipped when all are present)"
scripts/install-deps.sh
say "Building ertrd and ertrctl (release build in build/)"
scripts/build.sh release >/dev/null
ertrd=build/node/ertrd
ertrctl=build/cli/ertrctl

work=$(mktemp -d "${TMPDIR:-/tmp}/ertr-demo.XXXX")
trap 'rm -rf "$work"' EXIT

say "Versions"
"$ertrd" --version

say "An administrator at hospital A creates her signing key and the department's encryption key"
echo "   Key files are encrypted at rest with a passphrase (Argon2id); here it comes from an"
echo "   environment variable, never from the command line."
export ERTR_PASSPHRASE="demo passphrase - not for production"
"$ertrctl" keys gen --type ed25519 --kdf interactive --out "$work/admin-a.key"
"$ertrctl" keys gen --type x25519 --kdf interactive --out "$work/hospital-a-encryption.key"
say "Anyone can read the public half of a key file without the passphrase"
"$ertrctl" keys show "$work/admin-a.key"


say "An existing key file is never overwritten"
if "$ertrctl" keys gen --out "$work/admin-a.key" 2>&1; then
  echo "unexpected: overwrote an existing key file" >&2
  exit 1
fi

say "The node checks this machine end to end: crypto, encrypted blobs, atomic block storage"
"$ertrd" selfcheck --dir "$work/node"

say "Done: the foundation works on this machine."
echo "   Next: the four-hospital network demo (see README.md, Status)."
