#!/usr/bin/env bash
# Opt-in stress runs, too long for the default suite.
#   scripts/stress.sh crash [KILLS] [DISKS]
# crash: SIGKILLs a monitor mid-write KILLS times per disk kind (default 300) while two
# CPU hogs and a memory-dirtying thread run beside it, with the fault-injection shim
# (tests/support/fault_inject.cpp) preloaded into the monitor: short transfers,
# EAGAIN/EINTR, failed io_uring completions and submits, and ("raw_sync") no io_uring at
# all. DISKS: a gtest pattern over raw, qcow2, direct, raw_sync (default all). Prints
# rounds, kills and bad sectors (must be 0) per disk, and the shim's counters.
# Uses an existing build directory ($BUILD, default build/); builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-}
build=${BUILD:-build}
case "$what" in
crash)
    kills=${2:-300}
    disks=${3:-*}
    ninja -C "$build" domus domusd domus-vmm domus-xenstored domus_fault_inject integration_test
    DOMUS_STRESS_KILLS=$kills "$build/bin/integration_test" --gtest_also_run_disabled_tests \
        --gtest_filter="Disks/FaultyCrashTest.DISABLED_ManyKills*/$disks" 2>&1 |
        tee "$build/stress-crash.log" | grep --line-buffered -E '^(stress |fault_inject counters|\[ *(OK|FAILED|PASSED) )|Failure'
    ;;
*)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
