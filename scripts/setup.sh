#!/usr/bin/env bash
# Installs what Domus needs on Debian 12 (only what is missing), builds the guest
# C library sysroot and the whole tree into build/. Idempotent and quick when done.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

packages=(build-essential cmake ninja-build pkg-config libfmt-dev libcli11-dev
          libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev newlib-source
          liburing-dev libseccomp-dev libxen-dev xenstore-utils qemu-utils socat tmux python3
          libcpp-httplib-dev curl dpkg-dev iproute2 nftables dnsmasq-base iputils-ping iperf wrk
          zlib1g-dev
          clang libclang-rt-14-dev)  # clang: the sanitizer build with the fuzz harnesses
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/build-newlib.sh build/sysroot
# The guests' TCP/IP stack: Debian's lwIP source package (private apt configuration).
scripts/fetch-source.sh lwip build/third_party
if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DDOMUS_SYSROOT="$PWD/build/sysroot" "$@" >/dev/null
fi
ninja -C "$build" -j"$(nproc)"
