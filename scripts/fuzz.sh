#!/usr/bin/env bash
# A libFuzzer campaign on one harness of tests/fuzz (builds build-fuzz with clang first if
# needed). New inputs go to a work corpus outside the repository, build-fuzz/corpus/NAME;
# --merge afterwards adds those that reach new coverage to the seed corpus in the tree.
#   scripts/fuzz.sh NAME SECONDS [--merge] [extra libFuzzer flags...]
#   scripts/fuzz.sh --list
# Crashes land in build-fuzz/crashes/NAME/; the run's statistics in build-fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DOMUS_FUZZ_BUILD:-build-fuzz}
seeds=tests/fuzz/corpus

if [ "${1:-}" = "--list" ]; then
    ls "$seeds"
    exit 0
fi
if [ $# -lt 2 ]; then
    echo "usage: scripts/fuzz.sh NAME SECONDS [--merge] [libFuzzer flags...] | --list" >&2
    exit 2
fi
name=$1 seconds=$2
shift 2
merge=0
if [ "${1:-}" = "--merge" ]; then
    merge=1
    shift
fi
[ -d "$seeds/$name" ] || { echo "fuzz: no harness '$name' (scripts/fuzz.sh --list)" >&2; exit 2; }

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DDOMUS_FUZZ=ON -DDOMUS_BUILD_GUEST=OFF \
        -DCMAKE_C_COMPILER_LAUNCHER="$(command -v ccache || true)" \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" >/dev/null
fi
ninja -C "$build" "${name}_fuzz" >/dev/null

work="$build/corpus/$name" crashes="$build/crashes/$name" logs="$build/logs"
mkdir -p "$work" "$crashes" "$logs"
log="$logs/$name-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "fuzz: $name for ${seconds}s, work corpus $work, log $log" >&2
status=0
"$build/bin/${name}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$@" "$work" "$seeds/$name" >"$log" 2>&1 || status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' "$log" >&2 || true
if [ "$status" -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $status); the input is in $crashes/, the report in $log" >&2
    exit "$status"
fi
if [ "$merge" -eq 1 ]; then
    # Only inputs that add coverage over the seeds already in the tree.
    before=$(ls "$seeds/$name" | wc -l)
    "$build/bin/${name}_fuzz" -merge=1 "$seeds/$name" "$work" >>"$log" 2>&1
    echo "fuzz: merged $(( $(ls "$seeds/$name" | wc -l) - before )) inputs into $seeds/$name" >&2
fi
