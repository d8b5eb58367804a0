#!/usr/bin/env bash
# Installs the Debian 12 packages ertrchain needs to build, test and run (../shared/TOOLCHAIN.md).
# Idempotent: installs only what is missing, so a second run does nothing and needs no network.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates clang clang-format
  libclang-rt-14-dev
  # libraries
  libboost-dev libsodium-dev librocksdb-dev libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  libspdlog-dev libcli11-dev catch2 libtomlplusplus-dev libdcmtk-dev libbenchmark-dev
  libabsl-dev  # also a dependency of libgrpc++-dev; named because we use it directly
  libssl-dev   # the same: libcrypto's ChaCha20 and Poly1305 (ADR 0028)
  libjemalloc-dev
  # tests: TLS certificates for the API test
  openssl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js runs the independent interop check (and later the JS client example). Any node with npm
# will do (some machines have a newer one from elsewhere); otherwise Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages are installed"
  exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
