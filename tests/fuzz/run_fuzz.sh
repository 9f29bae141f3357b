#!/usr/bin/env bash
# Bounded libFuzzer run for the suite: FUZZER for SECONDS from fresh seeds, written
# by `MAKE_SEEDS DIR [SEED_ARG...]`, and the kept corpus tests/fuzz/corpus/NAME/ (NAME:
# the fuzzer's name without fuzz_) when there is one. Longer runs: run_long.sh.
# usage: run_fuzz.sh FUZZER MAKE_SEEDS SECONDS [SEED_ARG...]
set -euo pipefail
fuzzer=$1 make_seeds=$2 seconds=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
"$make_seeds" "$work/corpus" "$@"
here=$(dirname "${BASH_SOURCE[0]}")
name=$(basename "$fuzzer" | sed 's/^fuzz_//')
# The kept corpus (run_long.sh's, with the inputs of every bug found): replayed first.
if [ -d "$here/corpus/$name" ]; then
	find "$here/corpus/$name" -maxdepth 1 -type f -exec cp -t "$work/corpus" {} +
fi
# A dictionary beside this script (config.dict for fuzz_config) when there is one.
extra=()
[ -f "$here/$name.dict" ] && extra+=(-dict="$here/$name.dict")
echo "$(basename "$fuzzer"): ${seconds}s with ASan+UBSan from $(ls "$work/corpus" | wc -l) seeds"
if "$fuzzer" -max_total_time="$seconds" -seed=1 -print_final_stats=1 -artifact_prefix="$work/" \
	"${extra[@]}" "$work/corpus" >"$work/log" 2>&1; then
	grep -E 'stat::number_of_executed_units|stat::new_units_added' "$work/log" || true
	echo "1 passed, 0 failed"
else
	tail -n 60 "$work/log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -e "$a" ] && { echo "reproducer (base64):"; base64 -w0 "$a"; echo; }
	done
	echo "0 passed, 1 failed"
	exit 1
fi
