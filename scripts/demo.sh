#!/usr/bin/env bash
# The demo: set up and build everything, then boot the hello domain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
echo "--- booting build/guest/hello.elf (2 vCPUs, 32 MiB) ---"
exec build/bin/domus run build/guest/hello.elf -m 32 --vcpus 2 --cmdline "loops=3" --no-input
