#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The config loader's error lines, case by case: every row of cases.tsv runs
# `moatd --check FILE` or `moatctl explain --config FILE CAPTURE` and compares the
# exit code and the exact output line (see the header of cases.tsv).
#
#   run_config_tests.sh BUILD_DIR
#
# BUILD_DIR  the meson build folder (control/moatd and control/moatctl in it)
#
# Prints one line per case and "N passed, M failed"; exit 0 only when nothing failed.
# KEEP_WORK=1 keeps the scratch folder.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CASES="$HERE/cases"
TABLE="$HERE/cases.tsv"
DEPLOY=$(cd "$HERE/../../deploy" && pwd)
MOATD="$BUILD/control/moatd"
MOATCTL="$BUILD/control/moatctl"

for bin in "$MOATD" "$MOATCTL"; do
	if ! [ -x "$bin" ]; then
		echo "FAIL not built: $bin"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/moat-config.XXXXXX")
cleanup() {
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "# work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# A directory given as the config file.
mkdir "$WORK/a-directory.yaml"
# One Ethernet/IPv4/TCP SYN 192.0.2.1:54321 > 198.51.100.1:80 in a classic pcap.
CAPTURE="$WORK/tiny.pcap"
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00''\x00\xf1\x53\x65\x00\x00\x00\x00\x36\x00\x00\x00\x36\x00\x00\x00''\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00''\x45\x00\x00\x28\x00\x01\x00\x00\x40\x06\x8e\x99\xc0\x00\x02\x01\xc6\x33\x64\x01''\xd4\x31\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\x20\x00\x00\x00\x00\x00' >"$CAPTURE"

PASSED=0
FAILED=0

subst() { # TEXT: the table's placeholders replaced
	local s=${1//@DEPLOY@/$DEPLOY}
	printf '%s' "${s//@WORK@/$WORK}"
}

run_case() { # TOOL FILE EXIT EXPECTED
	local tool=$1 file expect_rc=$3 expected rc=0 out err label
	file=$(subst "$2")
	expected=$(subst "$4")
	label="$tool $2"
	case "$tool" in
	moatd) (cd "$CASES" && "$MOATD" --check "$file") >"$WORK/out" 2>"$WORK/err" || rc=$? ;;
	moatctl)
		(cd "$CASES" && "$MOATCTL" explain --quiet --config "$file" "$CAPTURE") \
			>"$WORK/out" 2>"$WORK/err" || rc=$?
		;;
	*)
		FAILED=$((FAILED + 1))
		printf 'FAIL %s: unknown tool in cases.tsv\n' "$label"
		return
		;;
	esac
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
	local why=""
	if [ "$rc" != "$expect_rc" ]; then
		why="exit $rc, expected $expect_rc"
	elif [ "$expect_rc" = 0 ] && [ -n "$err" ]; then
		why="stderr not empty"
	elif [ "$expect_rc" = 0 ] && [ "$tool" = moatd ] &&
		[ "$(cat "$WORK/out"; echo x)" != "$expected"$'\n'x ]; then
		why="stdout is not exactly one line '$expected'"
	elif [ "$expect_rc" != 0 ] && [ -n "$out" ]; then
		why="stdout not empty"
	elif [ "$expect_rc" != 0 ] && [ "$(cat "$WORK/err"; echo x)" != "$expected"$'\n'x ]; then
		why="stderr is not exactly the expected line"
	fi
	if [ -z "$why" ]; then
		PASSED=$((PASSED + 1))
		printf 'ok   %s (exit %s)\n' "$label" "$rc"
		return
	fi
	FAILED=$((FAILED + 1))
	printf 'FAIL %s: %s\n' "$label" "$why"
	[ "$expect_rc" = 0 ] && [ "$tool" = moatctl ] || printf '       expected: %s\n' "$expected"
	[ -z "$out" ] || printf '       stdout:   %s\n' "${out//$'\n'/$'\n'                 }"
	[ -z "$err" ] || printf '       stderr:   %s\n' "${err//$'\n'/$'\n'                 }"
}

while IFS=$'\t' read -r tool file rc expected; do
	case "$tool" in '' | '#'*) continue ;; esac
	if [ -z "$file" ] || [ -z "$rc" ] || [ -z "$expected" ]; then
		FAILED=$((FAILED + 1))
		printf 'FAIL malformed row in cases.tsv: %s\n' "$tool"
		continue
	fi
	run_case "$tool" "$file" "$rc" "$expected"
done <"$TABLE"

# Every case file is used by some row.
USED=$(cut -f2 "$TABLE")
for f in "$CASES"/*.yaml; do
	name=$(basename "$f")
	if ! grep -qxF "$name" <<<"$USED"; then
		FAILED=$((FAILED + 1))
		printf 'FAIL cases/%s has no row in cases.tsv\n' "$name"
	fi
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
