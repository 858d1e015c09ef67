#!/usr/bin/env bash
# The whole test suite: set up and build, run unit and integration tests (CTest),
# then the unit and integration tests again with host code under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
(cd build && ctest --output-on-failure -j2)
# Sanitizer configuration: host code only (guests are the same images from build/).
scripts/setup.sh build-asan -DDOMUS_SANITIZE=ON -DDOMUS_BUILD_GUEST=OFF \
    -DDOMUS_GUEST_DIR="$PWD/build/guest"
(cd build-asan && ctest --output-on-failure -j2)
