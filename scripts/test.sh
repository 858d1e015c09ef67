#!/usr/bin/env bash
# The whole test suite: set up and build, run unit and integration tests (CTest),
# then the unit and integration tests again with host code under ASan/UBSan (clang), with
# a short smoke run of every fuzz harness.
set -euo pipefail
cd "$(dirname "$0")/.."

# ctest in build dir $1; without /dev/kvm, says loudly how many tests that skipped.
run_ctest() {
    (cd "$1" && ctest --output-on-failure -j2 2>&1 | tee ctest.log)
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        skipped=$(grep -c '\*\*\*Skipped' "$1/ctest.log" || true)
        echo "************************************************************************"
        echo "* WARNING: no usable /dev/kvm: $skipped tests in $1 were SKIPPED (they boot"
        echo "* real guests). Run the suite on a machine with /dev/kvm to test them."
        echo "************************************************************************"
    fi
}

scripts/setup.sh build
run_ctest build
# Sanitizer configuration: host code only (guests are the same images from build/),
# built with clang so that it also builds the libFuzzer harnesses (tests/fuzz), whose
# fuzz.<name> smoke tests run in its ctest. A build-asan made by GCC is made again.
if [ -f build-asan/CMakeCache.txt ] && ! grep -q '^DOMUS_FUZZ:BOOL=ON' build-asan/CMakeCache.txt; then
    rm -rf build-asan
fi
CC=clang CXX=clang++ scripts/setup.sh build-asan -DDOMUS_SANITIZE=ON -DDOMUS_FUZZ=ON \
    -DDOMUS_BUILD_GUEST=OFF -DDOMUS_GUEST_DIR="$PWD/build/guest"
run_ctest build-asan
