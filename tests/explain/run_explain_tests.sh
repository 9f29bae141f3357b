#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end tests of `moatctl explain --json`.
#
#   run_explain_tests.sh MOATCTL CAPTURES_DIR [WORK_PARENT]
#
# MOATCTL       the moatctl binary under test
# CAPTURES_DIR  the real attack captures (../shared/captures); read only, never written
# WORK_PARENT   where the scratch directory is made (default: $TMPDIR or /tmp);
#               KEEP_WORK=1 keeps it for inspection
#
# 1. fixture captures from gen_captures.py (scapy), each frame's verdict/reason
#    compared with the generator's manifest; SYN cookies checked in two passes;
# 2. the real captures: spoofed SYN flood and reflected SYN+ACKs;
# 3. bad input: captures and configs that must fail cleanly with one stderr line.
#
# Prints one line per check and "N passed, M failed"; exit 0 only when nothing
# failed, 77 (meson: skipped) when /usr/bin/python3 has no scapy.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 MOATCTL CAPTURES_DIR [WORK_PARENT]" >&2
	exit 2
fi
MOATCTL=$1
CAPTURES=$2
PY=${MOAT_TEST_PYTHON:-/usr/bin/python3} # override only to test the skip path
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN="$HERE/gen_captures.py"
CHECK="$HERE/check_explain.py"
FLOOD=pkt.TCP.synflood.spoofed.pcap
AMP=amp.TCP.syn.optionallyACK.optionallysamePort.pcapng

if ! [ -x "$PY" ] || ! "$PY" -c 'import scapy.layers.inet, scapy.layers.inet6, scapy.layers.l2' 2>/dev/null; then
	echo "SKIP: $PY with scapy is needed to build the fixture captures (apt-get install python3-scapy)"
	exit 77
fi
if ! [ -x "$MOATCTL" ]; then
	echo "FAIL moatctl not found or not executable: $MOATCTL"
	echo "0 passed, 1 failed"
	exit 1
fi

WORK=$(mktemp -d "${3:-${TMPDIR:-/tmp}}/moat-explain.XXXXXX")
cleanup() {
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "# work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

PASSED=0
FAILED=0
START=$SECONDS

result() { # ok|fail MESSAGE
	if [ "$1" = ok ]; then
		PASSED=$((PASSED + 1))
		printf 'ok   %s\n' "$2"
	else
		FAILED=$((FAILED + 1))
		printf 'FAIL %s\n' "$2"
	fi
}

# Count the "ok"/"FAIL" lines of a checker's output file, echoing everything.
tally() {
	local line
	while IFS= read -r line; do
		case "$line" in
		"ok "*) PASSED=$((PASSED + 1)) ;;
		"FAIL "*) FAILED=$((FAILED + 1)) ;;
		esac
		printf '%s\n' "$line"
	done <"$1"
}

# check_explain.py SUBCOMMAND ARGS...: its lines are tallied; a crash is a failure.
checker() {
	local out="$WORK/check.out" rc=0
	"$PY" "$CHECK" "$@" >"$out" 2>"$WORK/check.err" || rc=$?
	tally "$out"
	if [ "$rc" -ne 0 ]; then
		result fail "checker '$1' exited $rc: $(tr '\n' ' ' <"$WORK/check.err" | cut -c1-300)"
	fi
}

# explain NAME CONFIG PCAP: JSON lines into $WORK/NAME.jsonl; one check that it ran cleanly.
explain() {
	local name=$1 cfg=$2 pcap=$3 rc=0
	"$MOATCTL" explain --json --config "$cfg" "$pcap" >"$WORK/$name.jsonl" 2>"$WORK/$name.err" || rc=$?
	if [ "$rc" -eq 0 ] && ! [ -s "$WORK/$name.err" ]; then
		result ok "$name: explain exits 0 with nothing on stderr"
		return 0
	fi
	result fail "$name: explain exited $rc, stderr: $(head -c 300 "$WORK/$name.err")"
	return 1
}

# ---------------------------------------------------------------- 1. fixtures
FIX="$WORK/fixtures"
if ! "$PY" "$GEN" "$FIX" >"$WORK/gen.log" 2>&1; then
	cat "$WORK/gen.log"
	result fail "gen_captures.py $FIX"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
result ok "gen_captures.py wrote $(find "$FIX" -name "*.pcap" | wc -l) captures"

while IFS=$'\t' read -r name pcap cfg; do
	if explain "$name" "$cfg" "$pcap"; then
		checker frames "$FIX/manifest.json" "$name" "$WORK/$name.jsonl"
	fi
done < <("$PY" "$CHECK" runs "$FIX/manifest.json")

# The ACK flood of random sources (pickup's defaults: burst 200, 100/s, suspended after
# two seconds of unconfirmed pickups): at most burst + 2 s of the rate pass, and the table
# holds those tentative flows and the two legitimate ones.
if [ -s "$WORK/ack_flood.jsonl" ]; then
	checker ack-flood "$WORK/ack_flood.jsonl" 400 402
fi

# Valid SYN cookie, two passes: read the cookie explain gave the SYN, then build
# the client's ACK from it (same SYN, same timestamps: same time slot).
cookie=""
if [ -s "$WORK/cookie_syn.jsonl" ]; then
	cookie=$("$PY" "$CHECK" field "$WORK/cookie_syn.jsonl" 1 cookie || true)
fi
if [[ "$cookie" =~ ^[0-9]+$ ]]; then
	result ok "cookie pass 1: explain gave the SYN cookie $cookie"
	if "$PY" "$GEN" --cookie-ack "$cookie" "$FIX" >"$WORK/gen2.log" 2>&1; then
		while IFS=$'\t' read -r name pcap cfg; do
			if explain "$name" "$cfg" "$pcap"; then
				checker frames "$FIX/manifest_cookie.json" "$name" "$WORK/$name.jsonl"
			fi
		done < <("$PY" "$CHECK" runs "$FIX/manifest_cookie.json")
	else
		result fail "gen_captures.py --cookie-ack: $(head -c 300 "$WORK/gen2.log")"
	fi
else
	result fail "cookie pass 1: no integer \"cookie\" on frame 1 of cookie_syn ('$cookie')"
fi

# ---------------------------------------------------------------- 2. real captures
REAL="$WORK/real"
mkdir -p "$REAL"
if [ -r "$CAPTURES/$FLOOD" ] && [ -r "$CAPTURES/$AMP" ]; then
	printf 'syn_cookies: always\n' >"$REAL/always.yaml"
	printf 'syn_cookies: off\n' >"$REAL/off.yaml"
	cat >"$REAL/prefix_limits.yaml" <<-'EOF'
		syn_cookies: off
		limits: {prefix_v4: 8, prefix_syn_rate: 2, prefix_syn_burst: 2}
		tables: {flows: 1024}
	EOF
	if explain flood_always "$REAL/always.yaml" "$CAPTURES/$FLOOD"; then
		checker flood-cookies "$WORK/flood_always.jsonl"
	fi
	if explain flood_limits "$REAL/prefix_limits.yaml" "$CAPTURES/$FLOOD"; then
		checker flood-limits "$WORK/flood_limits.jsonl" 1024
	fi
	for mode in off always; do
		if explain "amp_$mode" "$REAL/$mode.yaml" "$CAPTURES/$AMP"; then
			checker no-synack-pass "$WORK/amp_$mode.jsonl" "syn_cookies: $mode"
		fi
	done
else
	result fail "real captures not readable in $CAPTURES ($FLOOD, $AMP)"
fi

# ---------------------------------------------------------------- 3. bad input
BAD="$WORK/bad"
mkdir -p "$BAD"
GOOD_PCAP="$FIX/legit_v4.pcap"
GOOD_CFG="$FIX/legit_v4.yaml"

# bad_case LABEL WANT_RC EXPECT_KIND EXPECT NEEDLE ARGS...
#   EXPECT_KIND exact: stderr must be exactly the line EXPECT
#               prefix: stderr line must start with EXPECT
#   NEEDLE: a string the line must also contain (the file name, the key)
bad_case() {
	local label=$1 want_rc=$2 kind=$3 expect=$4 needle=$5 rc=0 nlines line
	shift 5
	"$MOATCTL" explain --json "$@" >"$BAD/out" 2>"$BAD/err" || rc=$?
	nlines=$(awk 'END { print NR }' "$BAD/err")
	line=$(head -n 1 "$BAD/err")
	if [ "$rc" -ge 128 ]; then
		result fail "$label: no crash (exit $rc = signal $((rc - 128)))"
	elif [ "$rc" -ne "$want_rc" ]; then
		result fail "$label: exit $want_rc (got $rc)"
	else
		result ok "$label: exit $rc"
	fi
	if [ "$nlines" -eq 1 ]; then
		result ok "$label: exactly one line on stderr"
	else
		result fail "$label: exactly one line on stderr (got $nlines: $(head -c 300 "$BAD/err" | tr '\n' '|'))"
	fi
	case "$kind" in
	exact)
		if [ "$line" = "$expect" ]; then
			result ok "$label: message is '$expect'"
		else
			result fail "$label: message is '$expect' (got '$line')"
		fi
		;;
	prefix)
		if [[ "$line" == "$expect"* ]]; then
			result ok "$label: message starts with '$expect'"
		else
			result fail "$label: message starts with '$expect' (got '$line')"
		fi
		;;
	esac
	if [[ "$line" == *"$needle"* ]]; then
		result ok "$label: message names '$needle'"
	else
		result fail "$label: message names '$needle' (got '$line')"
	fi
}

P="moatctl explain: "
# Captures (exit 1: bad input).
bad_case "missing capture" 1 exact "$P$BAD/nope.pcap: cannot open capture: No such file or directory" \
	"$BAD/nope.pcap" "$BAD/nope.pcap"
mkdir -p "$BAD/adir.pcap"
bad_case "directory as capture" 1 exact "$P$BAD/adir.pcap: is a directory, not a capture" \
	"$BAD/adir.pcap" "$BAD/adir.pcap"
printf 'this is not a capture\njust some text\n' >"$BAD/text.pcap"
bad_case "text file as capture" 1 prefix "$P$BAD/text.pcap: not a pcap or pcapng capture" \
	"$BAD/text.pcap" "$BAD/text.pcap"
: >"$BAD/empty.pcap"
bad_case "empty file as capture" 1 prefix "$P$BAD/empty.pcap: " "$BAD/empty.pcap" "$BAD/empty.pcap"
if [ -r "$CAPTURES/$FLOOD" ]; then
	cp "$CAPTURES/$FLOOD" "$BAD/flood_copy.pcap"
	head -c 1000 "$BAD/flood_copy.pcap" >"$BAD/truncated.pcap"
	bad_case "truncated pcap (first 1000 bytes of the flood)" 1 prefix \
		"$P$BAD/truncated.pcap: capture is damaged after frame " "$BAD/truncated.pcap" "$BAD/truncated.pcap"
	# 1000 bytes = 24-byte header + 12 whole 76-byte records + part of the 13th.
	n=$(grep -c '"frame"' "$BAD/out")
	if [ "$n" -eq 12 ]; then
		result ok "truncated pcap: the 12 whole frames are still explained"
	else
		result fail "truncated pcap: the 12 whole frames are still explained (got $n lines)"
	fi
	# With --json the error closes stdout as one object, as with every moatctl command.
	if tail -n 1 "$BAD/out" | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)
sys.exit(0 if e["exit"] == 1 and e["error"].startswith(sys.argv[1]) else 1)' "$BAD/truncated.pcap: capture is damaged"; then
		result ok "truncated pcap, --json: the error is the last line, as JSON with its exit code"
	else
		result fail "truncated pcap, --json: the error is the last line, as JSON (got $(tail -n 1 "$BAD/out" | head -c 200))"
	fi
fi
if [ -r "$CAPTURES/$AMP" ]; then
	head -c 1000 "$CAPTURES/$AMP" >"$BAD/truncated.pcapng"
	bad_case "truncated pcapng (first 1000 bytes)" 1 prefix "$P$BAD/truncated.pcapng: " \
		"$BAD/truncated.pcapng" "$BAD/truncated.pcapng"
fi

# Configs (exit 2: config error), each against a good capture.
cfg() { # NAME CONTENT -> path
	printf '%s' "$2" >"$BAD/$1.yaml"
	printf '%s' "$BAD/$1.yaml"
}
bad_case "missing config" 2 exact "$P$BAD/nope.yaml: cannot open config: No such file or directory" \
	"$BAD/nope.yaml" --config "$BAD/nope.yaml" "$GOOD_PCAP"
c=$(cfg bad_yaml $'syn_cookies: off\nlimits: {source_syn_rate: 2\ndeny: [10.0.0.0/8]\n')
bad_case "bad YAML" 2 prefix "$P$c:" "invalid YAML" --config "$c" "$GOOD_PCAP"
if [[ "$(head -n 1 "$BAD/err")" =~ ^"$P$c":[0-9]+:\ invalid\ YAML ]]; then
	result ok "bad YAML: message has FILE:LINE: invalid YAML"
else
	result fail "bad YAML: message has FILE:LINE: invalid YAML (got '$(head -n 1 "$BAD/err")')"
fi
c=$(cfg unknown_flow $'# unknown key in a flow mapping\nsyn_cookies: off\nlimits: {bogus: 1}\n')
bad_case "unknown key (flow style)" 2 exact "$P$c:3: unknown key 'limits.bogus'" "limits.bogus" \
	--config "$c" "$GOOD_PCAP"
c=$(cfg unknown_block $'syn_cookies: off\nlimits:\n  source_syn_rate: 2\n\n  bogus: 1\n')
bad_case "unknown key (block style, line 5)" 2 exact "$P$c:5: unknown key 'limits.bogus'" "limits.bogus" \
	--config "$c" "$GOOD_PCAP"
c=$(cfg unknown_top $'syn_cookies: off\nsyn_cookie: always\n')
bad_case "unknown top-level key" 2 exact "$P$c:2: unknown key 'syn_cookie'" "syn_cookie" \
	--config "$c" "$GOOD_PCAP"
c=$(cfg wrong_type $'# wrong type\nsyn_trigger: abc\n')
bad_case "wrong type" 2 exact "$P$c:2: key 'syn_trigger': expected an integer 1..100000000, got 'abc'" \
	"syn_trigger" --config "$c" "$GOOD_PCAP"
c=$(cfg range $'syn_cookies: off\nlimits: {prefix_v4: 33}\n')
bad_case "out of range" 2 exact "$P$c:2: key 'limits.prefix_v4': 33 is out of range 0..32" \
	"limits.prefix_v4" --config "$c" "$GOOD_PCAP"
c=$(cfg range_block $'tables:\n  flows: 10\n')
bad_case "out of range (tables.flows below 64)" 2 exact "$P$c:2: key 'tables.flows': 10 is out of range 64..67108864" \
	"tables.flows" --config "$c" "$GOOD_PCAP"
c=$(cfg bad_enum $'syn_cookies: sometimes\n')
bad_case "bad enum" 2 exact "$P$c:1: key 'syn_cookies': expected one of auto | always | off, got 'sometimes'" \
	"syn_cookies" --config "$c" "$GOOD_PCAP"
c=$(cfg bad_cidr $'syn_cookies: off\ndeny:\n  - 10.0.0.0/8\n  - 10.1.0.0/33\n')
bad_case "bad CIDR in deny" 2 exact "$P$c:4: key 'deny': expected an IPv4 or IPv6 CIDR like 192.0.2.0/24, got '10.1.0.0/33'" \
	"deny" --config "$c" "$GOOD_PCAP"
c=$(cfg bad_cidr2 $'deny: [10.0.0.300/8]\n')
bad_case "bad address in deny" 2 prefix "$P$c:1: key 'deny': " "10.0.0.300/8" --config "$c" "$GOOD_PCAP"
# Both bad: the config is reported (one line), not the capture.
c=$(cfg both_bad $'syn_trigger: abc\n')
bad_case "bad config and missing capture" 2 prefix "$P$c:1: key 'syn_trigger'" "$c" \
	--config "$c" "$BAD/nope.pcap"

# Controls: a config of comments only is valid; the good config runs.
c=$(cfg comments_only $'# nothing but a comment\n')
rc=0
"$MOATCTL" explain --json --config "$c" "$GOOD_PCAP" >/dev/null 2>"$BAD/err" || rc=$?
if [ "$rc" -eq 0 ] && ! [ -s "$BAD/err" ]; then
	result ok "config of comments only is valid"
else
	result fail "config of comments only is valid (exit $rc: $(head -c 200 "$BAD/err"))"
fi
rc=0
"$MOATCTL" explain --json --config "$GOOD_CFG" "$GOOD_PCAP" >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then result ok "control: the good config and capture exit 0"; else
	result fail "control: the good config and capture exit 0 (got $rc)"; fi
# The real captures were only read.
if [ -r "$CAPTURES/$FLOOD" ] && cmp -s "$CAPTURES/$FLOOD" "$BAD/flood_copy.pcap"; then
	result ok "the shared flood capture is unchanged"
fi

echo "# runtime $((SECONDS - START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
