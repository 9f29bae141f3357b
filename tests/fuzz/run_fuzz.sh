#!/usr/bin/env bash
# Bounded libFuzzer run for the suite: fuzz_engine for SECONDS from fresh seeds.
# usage: run_fuzz.sh FUZZER MAKE_SEEDS SECONDS
set -euo pipefail
fuzzer=$1 make_seeds=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
"$make_seeds" "$work/corpus"
echo "$(basename "$fuzzer"): ${seconds}s with ASan+UBSan from $(ls "$work/corpus" | wc -l) seeds"
if "$fuzzer" -max_total_time="$seconds" -seed=1 -print_final_stats=1 -artifact_prefix="$work/" \
	"$work/corpus" >"$work/log" 2>&1; then
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
