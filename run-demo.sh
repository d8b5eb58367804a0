#!/usr/bin/env bash
# The main job, in one command on a fresh Debian 12 machine: installs what is missing (apt),
# builds ertrd and ertrctl, and runs a local network of four radiation-oncology departments
# sharing treatment records (scripts/demo.sh narrates each step). Exit code 0 only if every step
# behaved as expected. Idempotent; takes a few minutes the first time (the build).
set -euo pipefail
cd "$(dirname "$0")"

printf '\n== Installing missing Debian packages (needs root or sudo; skipped when all are present)\n'
scripts/install-deps.sh
printf '\n== Building ertrd and ertrctl (release build in build/)\n'
scripts/build.sh release >/dev/null
exec scripts/demo.sh build/node/ertrd build/cli/ertrctl
