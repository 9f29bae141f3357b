#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Long libFuzzer runs over a kept corpus (not in the suite: the suite's bounded
# runs are run_fuzz.sh).
#
#   run_long.sh [-n EXECUTIONS] [-t SECONDS] [-b BUILD_DIR] [-s SEED] [TARGET...]
#
# TARGET       engine, proto, config, pcap (default: all four, one after another)
# -n           executions per target (libFuzzer -runs; default 10000000)
# -t           also stop a target after SECONDS (libFuzzer -max_total_time; default none)
# -b           a meson build folder with tests enabled (default: build-fuzz at the top,
#              set up if missing); the fuzzers and seed writers are built in it if needed
# -s           libFuzzer -seed (default: a random one, printed)
#
# Each target runs with ASan + UBSan (+ LeakSanitizer) over tests/fuzz/corpus/TARGET/
# (with the dictionary tests/fuzz/TARGET.dict when there is one),
# which is seeded the first time by the target's make_*seeds writer. The run works
# on a copy in BUILD_DIR/fuzz-long/TARGET/; at the end (also after a crash or an
# interrupt) the kept corpus is replaced by a minimized merge (-merge=1) of itself
# and the run's new units; files named regress-* (inputs of bugs found) are kept
# as they are. A crash, leak, timeout or out-of-memory leaves its
# reproducer in BUILD_DIR/fuzz-long/TARGET/ (printed, with the command to replay it).
#
# Prints per target: executions, exec/s, new units, corpus files before and after,
# crashes; exits 1 when any target crashed, 2 on a usage or build error.
# SIGINT/SIGTERM stop the running target cleanly (its counts are reported and
# its corpus merged) and skip the rest. Run it at low priority on a shared box:
#   nice -n 19 tests/fuzz/run_long.sh -n 10000000 config
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=10000000
SECONDS_CAP=0
BUILD=""
SEED=""
ALL_TARGETS=(engine proto config pcap)

usage() {
	sed -n '/^#   run_long.sh/,/^# -s/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts "n:t:b:s:h" opt; do
	case "$opt" in
	n) RUNS=$OPTARG ;;
	t) SECONDS_CAP=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	s) SEED=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[[ "$RUNS" =~ ^[0-9]+$ && "$SECONDS_CAP" =~ ^[0-9]+$ ]] || usage
[ -z "$SEED" ] || [[ "$SEED" =~ ^[0-9]+$ ]] || usage
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
	case "$t" in
	engine | proto | config | pcap) ;;
	*) echo "run_long.sh: unknown target '$t' (engine, proto, config, pcap)" >&2; exit 2 ;;
	esac
done

# ---- build ---------------------------------------------------------------------
if [ -z "$BUILD" ]; then
	BUILD="$ROOT/build-fuzz"
	if ! [ -f "$BUILD/build.ninja" ]; then
		echo "# setting up $BUILD"
		meson setup "$BUILD" "$ROOT" >/dev/null || exit 2
	fi
fi
if ! [ -f "$BUILD/build.ninja" ]; then
	echo "run_long.sh: $BUILD is not a meson build folder" >&2
	exit 2
fi
BUILD=$(cd "$BUILD" && pwd)

fuzzer_of() { echo "tests/fuzz/fuzz_$1"; }
seeder_of() {
	case "$1" in
	engine) echo tests/fuzz/make_seeds ;;
	proto) echo tests/fuzz/make_proto_seeds ;;
	config) echo tests/fuzz/make_config_seeds ;;
	pcap) echo tests/fuzz/make_pcap_seeds ;;
	esac
}
# The files a seeder copies in besides its own seeds.
seed_args_of() {
	local c
	case "$1" in
	config) printf '%s\n' "$ROOT/deploy/moat.yaml" "$ROOT/deploy/moat-dp.yaml" "$ROOT/tests/config/cases" ;;
	pcap)
		for c in pkt.TCP.synflood.spoofed.pcap amp.TCP.syn.optionallyACK.optionallysamePort.pcapng; do
			[ -f "$ROOT/../shared/captures/$c" ] && printf '%s\n' "$ROOT/../shared/captures/$c"
		done
		;;
	esac
	return 0
}

build_targets=()
for t in "${TARGETS[@]}"; do
	build_targets+=("$(fuzzer_of "$t")" "$(seeder_of "$t")")
done
if ! ninja -C "$BUILD" "${build_targets[@]}" >"$BUILD/fuzz-long-build.log" 2>&1; then
	tail -n 30 "$BUILD/fuzz-long-build.log" >&2
	echo "run_long.sh: build failed (is clang installed and -Dtests enabled?)" >&2
	exit 2
fi

# ---- runs ----------------------------------------------------------------------
stat_of() { # LOG NAME: libFuzzer's final stat, 0 when absent
	local v
	v=$(grep -E "^stat::$2:" "$1" | tail -n 1 | awk '{ print $2 }')
	echo "${v:-0}"
}
count_files() { find "$1" -maxdepth 1 -type f | wc -l; }

FPID=""
STOPPED=0
on_signal() {
	STOPPED=1
	[ -z "$FPID" ] || kill -INT "$FPID" 2>/dev/null || true
}
trap on_signal INT TERM

CRASHED=0
SUMMARY=()
for t in "${TARGETS[@]}"; do
	[ "$STOPPED" = 0 ] || break
	fuzzer="$BUILD/$(fuzzer_of "$t")"
	seeder="$BUILD/$(seeder_of "$t")"
	corpus="$HERE/corpus/$t"
	work="$BUILD/fuzz-long/$t"
	mkdir -p "$corpus"
	if [ "$(count_files "$corpus")" = 0 ]; then
		mapfile -t seed_args < <(seed_args_of "$t")
		"$seeder" "$corpus" "${seed_args[@]}"
		echo "# $t: corpus seeded with $(count_files "$corpus") files"
	fi
	rm -rf "$work"
	mkdir -p "$work/corpus"
	cp -R "$corpus"/. "$work/corpus/"
	before=$(count_files "$corpus")
	seed=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	args=(-runs="$RUNS" -seed="$seed" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048
		-artifact_prefix="$work/")
	[ "$SECONDS_CAP" = 0 ] || args+=(-max_total_time="$SECONDS_CAP")
	[ ! -f "$HERE/$t.dict" ] || args+=(-dict="$HERE/$t.dict")
	echo "# $t: up to $RUNS executions, seed $seed, $before corpus files, log $work/log"
	start=$(date +%s)
	rc=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
		"$fuzzer" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 &
	FPID=$!
	while :; do
		rc=0
		wait "$FPID" || rc=$?
		# wait returns early (over 128) when a signal arrives: wait again for the fuzzer
		kill -0 "$FPID" 2>/dev/null || break
	done
	FPID=""
	secs=$(($(date +%s) - start))
	execs=$(stat_of "$work/log" number_of_executed_units)
	rate=$(stat_of "$work/log" average_exec_per_sec)
	newu=$(stat_of "$work/log" new_units_added)
	artifacts=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) | sort)
	crashes=0
	[ -z "$artifacts" ] || crashes=$(wc -l <<<"$artifacts")
	if [ "$crashes" = 0 ] && [ "$rc" != 0 ] && ! { [ "$STOPPED" = 1 ] && [ "$rc" = 72 ]; }; then
		crashes=1 # died without leaving a reproducer: the log says why
	fi

	# Keep a minimized union of the kept corpus and what this run found.
	mkdir -p "$work/merged"
	if "$fuzzer" -merge=1 -timeout=25 -rss_limit_mb=2048 "$work/merged" "$work/corpus" \
		>"$work/merge.log" 2>&1 && [ "$(count_files "$work/merged")" -gt 0 ]; then
		# regress-* files (the inputs of bugs found) stay whatever their coverage.
		find "$corpus" -maxdepth 1 -type f ! -name 'regress-*' -delete
		cp -R "$work/merged"/. "$corpus/"
		for r in "$corpus"/regress-*; do
			[ -f "$r" ] || continue
			rm -f "$corpus/$(sha1sum "$r" | cut -d' ' -f1)"
		done
	else
		echo "# $t: merge failed, kept corpus unchanged (see $work/merge.log)"
	fi
	after=$(count_files "$corpus")

	state=ok
	[ "$STOPPED" = 0 ] || state=interrupted
	if [ "$crashes" != 0 ]; then
		state=CRASH
		CRASHED=1
		grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|check failed|deadly signal|ERROR: libFuzzer' \
			"$work/log" | head -n 8 | sed "s/^/# $t: /"
		while read -r a; do
			[ -n "$a" ] || continue
			echo "# $t: reproducer $a"
			echo "# $t: replay with: $fuzzer $a"
		done <<<"$artifacts"
		[ -n "$artifacts" ] || echo "# $t: no reproducer written: see $work/log"
	fi
	echo "# $t: $execs executions in ${secs}s ($rate exec/s), $newu new units, corpus $before -> $after files, $crashes crashes: $state"
	SUMMARY+=("$(printf '%-7s %12s %8s %9s %7s -> %-7s %7s  %s' "$t" "$execs" "$rate" "$newu" \
		"$before" "$after" "$crashes" "$state")")
done

echo
printf '%-7s %12s %8s %9s %18s %7s  %s\n' target executions exec/s new_units "corpus files" crashes result
for line in "${SUMMARY[@]}"; do
	echo "$line"
done
du -sh "$HERE/corpus" 2>/dev/null | awk '{ print "kept corpus: " $1 " in tests/fuzz/corpus" }'
[ "$CRASHED" = 0 ] || exit 1
[ "$STOPPED" = 0 ] || exit 130
exit 0
