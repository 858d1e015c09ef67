#!/bin/sh
# One fuzz.<name> smoke test: WORK (emptied first) takes the new inputs libFuzzer writes,
# so the seed corpus SEEDS in the tree is only read.
#   smoke.sh WORK SEEDS HARNESS [libFuzzer flags...]
set -e
work=$1 seeds=$2
shift 2
rm -rf "$work"
mkdir -p "$work"
exec "$@" "$work" "$seeds"
