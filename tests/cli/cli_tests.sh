#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# moatctl's command line conventions:
#  - the global options (--socket/-s, --json/-j, --help/-h) work before and
#    after the command;
#  - every command takes -j, and with -j an error is one JSON object on stdout,
#    {"error": TEXT, "exit": CODE}, CODE being moatctl's exit code (1 bad input or
#    the daemon's error, 2 usage, 3 no daemon), as well as the line on stderr;
#  - --help works for moatctl and for every command, wherever it stands.
# The part that needs a daemon runs a real moatd (mode xdp, generic mode on the
# loopback of a private network namespace, its maps pinned on a bpffs mounted in a
# private mount namespace): root only. Without root that part is skipped (77).
#
#   cli_tests.sh BUILD_DIR
#
# Prints one line per check and "N passed, M failed". KEEP_WORK=1 keeps the scratch folder.
set -uo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
MOATCTL=$BUILD/control/moatctl
MOATD=$BUILD/control/moatd
PY=/usr/bin/python3
START=$SECONDS
PASSED=0
FAILED=0
MOATD_PID=

if ! [ -x "$MOATCTL" ] || ! [ -x "$PY" ]; then
	echo "FAIL: needs $MOATCTL and $PY"
	exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/moat-cli.XXXXXX")
cleanup() {
	if [ -n "$MOATD_PID" ]; then
		kill "$MOATD_PID" 2>/dev/null
		wait "$MOATD_PID" 2>/dev/null
	fi
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "# work directory kept: $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT

check() { # RC LABEL
	if [ "$1" -eq 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok   $2"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $2"
		echo "     stdout: $(head -c 300 "$W/out" 2>/dev/null | tr '\n' '|')"
		echo "     stderr: $(head -c 300 "$W/err" 2>/dev/null | tr '\n' '|')"
	fi
}

run() { # ARGS...: moatctl's stdout in $W/out, stderr in $W/err, exit code in RC
	"$MOATCTL" "$@" >"$W/out" 2>"$W/err"
	RC=$?
}

# json_is FILE EXPR [ARG...]: FILE is one line, a JSON object j for which the Python
# EXPR holds (the ARGs in a).
json_is() {
	"$PY" -c 'import json, sys
a = sys.argv[3:]
lines = open(sys.argv[1]).read().splitlines()
if len(lines) != 1:
    sys.exit("want one line, got %d" % len(lines))
j = json.loads(lines[0])
sys.exit(0 if isinstance(j, dict) and eval(sys.argv[2]) else 1)' "$@" 2>/dev/null
}

# json_lines FILE EXPR: every line of FILE is a JSON object j for which EXPR holds.
json_lines() {
	"$PY" -c 'import json, sys
for line in open(sys.argv[1]).read().splitlines():
    j = json.loads(line)
    if not (isinstance(j, dict) and eval(sys.argv[2])):
        sys.exit(1)' "$1" "$2" 2>/dev/null
}

# want_json_error CODE ARGS...: exit CODE; stdout exactly {"error": TEXT, "exit": CODE};
# stderr exactly one line "moatctl[ CMD]: TEXT".
want_json_error() {
	local code=$1
	shift
	run "$@"
	[ "$RC" -eq "$code" ] && [ "$(wc -l <"$W/err")" -eq 1 ] &&
		json_is "$W/out" "(sorted(j) == ['error', 'exit'] and j['exit'] == $code and j['error']
			and open(a[0]).read().rstrip('\n').endswith(': ' + j['error']))" "$W/err"
	check $? "moatctl $*: exit $RC (want $code), the error as JSON on stdout and a line on stderr"
}

# want_plain_error CODE ARGS...: exit CODE, nothing on stdout, one line on stderr.
want_plain_error() {
	local code=$1
	shift
	run "$@"
	[ "$RC" -eq "$code" ] && ! [ -s "$W/out" ] && [ "$(wc -l <"$W/err")" -eq 1 ]
	check $? "moatctl $*: exit $RC (want $code), stdout empty, one line on stderr"
}

# want_help ARGS...: exit 0, a usage text on stdout, nothing on stderr.
want_help() {
	run "$@"
	[ "$RC" -eq 0 ] && head -n 1 "$W/out" | grep -q '^usage: moatctl' && ! [ -s "$W/err" ]
	check $? "moatctl $*: help on stdout, exit $RC"
}

COMMANDS="explain version help status stats flows block unblock allow unallow reload top limits events"

echo "== --help, anywhere"
want_help --help
want_help -h
want_help help
run --help
missing=""
for cmd in $COMMANDS; do
	grep -q "^  $cmd " "$W/out" || missing="$missing $cmd"
done
[ -z "$missing" ]
check $? "moatctl --help lists every command${missing:+ (missing:$missing)}"
for cmd in $COMMANDS; do
	want_help "$cmd" --help
	want_help --help "$cmd"
	want_help help "$cmd"
	want_help -j -s "$W/none.sock" "$cmd" -h
done
run stats --help
grep -q -- '--socket' "$W/out" && grep -q -- '--json' "$W/out"
check $? "a command's help names the global options"

echo "== version"
run version
[ "$RC" -eq 0 ] && grep -Eq '^moatctl [0-9]+\.[0-9]+' "$W/out"
check $? "moatctl version: exit $RC, '$(cat "$W/out")'"
for args in "version -j" "-j version" "version --json" "--json version"; do
	# shellcheck disable=SC2086
	run $args
	[ "$RC" -eq 0 ] && json_is "$W/out" "j['version']" && ! [ -s "$W/err" ]
	check $? "moatctl $args: {\"version\": ...}, exit $RC"
done
run --version
[ "$RC" -eq 0 ] && grep -q '^moatctl ' "$W/out"
check $? "moatctl --version: exit $RC"

echo "== no daemon: exit 3, global options before or after the command"
NOSOCK=$W/no-daemon/moatd.sock
want_json_error 3 --socket "$NOSOCK" stats --json
want_json_error 3 stats --json --socket "$NOSOCK"
want_json_error 3 -j --socket "$NOSOCK" status
want_json_error 3 -s "$NOSOCK" -j status
want_json_error 3 status -s "$NOSOCK" -j
want_json_error 3 --socket="$NOSOCK" --json stats
for cmd in "events" "events -f" "limits" "limits show" "flows" "flows --list -n 5" "top -n 1 -d 0.1" \
	"block 192.0.2.1" "unblock 192.0.2.1" "allow 2001:db8::/32" "unallow 192.0.2.0/24" "reload"; do
	# shellcheck disable=SC2086
	want_json_error 3 $cmd -j --socket "$NOSOCK"
	# shellcheck disable=SC2086
	want_json_error 3 -j --socket "$NOSOCK" $cmd
done
# The socket named before and after the command is the one moatctl tried.
for args in "--socket $NOSOCK stats" "stats --socket $NOSOCK" "-s $NOSOCK -j events" "events -s $NOSOCK"; do
	# shellcheck disable=SC2086
	run $args
	[ "$RC" -eq 3 ] && grep -qF "$NOSOCK" "$W/err"
	check $? "moatctl $args: exit $RC, the message names $NOSOCK"
done
want_plain_error 3 stats --socket "$NOSOCK"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$W/stale.sock"
want_json_error 3 stats -j --socket "$W/stale.sock"

echo "== usage errors: exit 2"
want_json_error 2 -j
want_json_error 2 -j nosuchcommand
want_json_error 2 nosuchcommand --json
want_json_error 2 --nosuchoption stats -j
want_json_error 2 stats --nosuchoption -j
want_json_error 2 stats -j -x
want_json_error 2 stats -j --socket
want_json_error 2 -j stats unexpected
want_json_error 2 block -j
want_json_error 2 block not-a-cidr -j
want_json_error 2 block 192.0.2.0/33 -j
want_json_error 2 block 192.0.2.1 --ttl 0 -j
want_json_error 2 status --ttl 10 -j
want_json_error 2 limits frob -j
want_json_error 2 limits set source_syn_rate -j
want_json_error 2 limits set source_syn_rate=lots -j
want_json_error 2 top -n many -j
want_json_error 2 top -d 0 -j
want_json_error 2 flows --port 70000 -j
want_json_error 2 flows --cidr nope -j
want_json_error 2 events extra -j
want_json_error 2 version extra -j
want_json_error 2 help nosuchcommand -j
want_json_error 2 explain -j
want_json_error 2 -j explain a.pcap b.pcap
want_plain_error 2
want_plain_error 2 nosuchcommand
want_plain_error 2 block not-a-cidr
want_plain_error 2 stats --nosuchoption

# ---- with a daemon ---------------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! [ -x "$MOATD" ]; then
	why="not root: moatd needs root to load XDP and mount a bpffs"
	[ -x "$MOATD" ] || why="moatd not built in $BUILD (no XDP support)"
	echo "# $((SECONDS - START)) s"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] || exit 1
	echo "SKIP the checks against a running moatd: $why"
	exit 77
fi

echo "== against a running moatd"
SOCK=$W/moatd.sock
mkdir "$W/bpf"
cat >"$W/moat.yaml" <<EOF
mode: xdp
interfaces: [lo]
xdp_mode: generic
pin_dir: $W/bpf/moat
EOF
# Its own network namespace (XDP on that loopback only) and mount namespace (its own
# bpffs); unshare execs bash which execs moatd, so $! is moatd's PID.
unshare --mount --net bash -c 'mount -t bpf bpf "$1" && exec "$2" --config "$3" --socket "$4"' \
	moatd-ns "$W/bpf" "$MOATD" "$W/moat.yaml" "$SOCK" >"$W/moatd.log" 2>&1 &
MOATD_PID=$!
deadline=$((SECONDS + 60))
up=1
while [ "$SECONDS" -lt "$deadline" ]; do
	"$MOATCTL" --socket "$SOCK" status >/dev/null 2>&1 && { up=0; break; }
	kill -0 "$MOATD_PID" 2>/dev/null || break
	sleep 0.2
done
[ "$up" -eq 0 ]
check $? "moatd (pid $MOATD_PID) answers on $SOCK: $(tail -n 2 "$W/moatd.log" | tr '\n' '|')"
if [ "$up" -ne 0 ]; then
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi

for args in "--socket $SOCK status --json" "status --json --socket $SOCK" "-j --socket $SOCK status" \
	"-s $SOCK status -j" "status -j -s $SOCK"; do
	# shellcheck disable=SC2086
	run $args
	[ "$RC" -eq 0 ] && json_is "$W/out" "j['ok'] is True and j['mode'] == 'xdp' and j['interfaces'] == ['lo']"
	check $? "moatctl $args: the daemon's status as JSON, exit $RC"
done
REASONS="established handshake allowlisted cookie_valid not_protected syn_cookie challenge_ack malformed
bad_flags land denylisted source_rate source_new_conn source_concurrent cookie_invalid ack_no_flow
rst_no_flow rst_out_of_window rst_suspect signature"
for args in "--socket $SOCK stats --json" "stats --json --socket $SOCK" "-j stats -s $SOCK"; do
	# shellcheck disable=SC2086
	run $args
	[ "$RC" -eq 0 ] && json_is "$W/out" "all(isinstance(j['reasons'][r], int) for r in '''$REASONS'''.split())"
	check $? "moatctl $args: every reason counted, exit $RC"
done
run stats --socket "$SOCK"
[ "$RC" -eq 0 ] && grep -q '^verdicts: pass ' "$W/out" && grep -Eq '^syn_cookie +tx +[0-9]+$' "$W/out"
check $? "moatctl stats --socket (text): verdicts and reasons, exit $RC"
run --socket "$SOCK" status
[ "$RC" -eq 0 ] && grep -Eq '^mode +xdp$' "$W/out"
check $? "moatctl --socket S status (text): 'mode xdp', exit $RC"

for args in "limits -j" "limits show -j" "-j limits show"; do
	# shellcheck disable=SC2086
	run $args --socket "$SOCK"
	[ "$RC" -eq 0 ] && json_is "$W/out" "j['limits']['source_syn_rate'] == 0"
	check $? "moatctl $args: the limits as JSON, exit $RC"
done
run -s "$SOCK" limits set source_syn_rate=250 -j
[ "$RC" -eq 0 ] && json_is "$W/out" "j['ok'] is True" &&
	"$MOATCTL" limits -s "$SOCK" -j | json_is /dev/stdin "j['limits']['source_syn_rate'] == 250"
check $? "moatctl limits set source_syn_rate=250 -j: applied, exit $RC"
run limits set source_syn_rate=0 -s "$SOCK"
[ "$RC" -eq 0 ] && grep -Eq '^source_syn_rate +0$' "$W/out"
check $? "moatctl limits set (text): the limits, exit $RC"

run flows -j --socket "$SOCK"
[ "$RC" -eq 0 ] && json_is "$W/out" "'LISTEN' in j['flows']"
check $? "moatctl flows -j: counts per state, exit $RC"
run -j flows --state LISTEN -n 5 --socket "$SOCK"
[ "$RC" -eq 0 ] && json_is "$W/out" "isinstance(j['list'], list) and all(f['state'] == 'LISTEN' for f in j['list'])"
check $? "moatctl -j flows --state LISTEN -n 5: a filtered list, exit $RC"

run events -j --socket "$SOCK"
[ "$RC" -eq 0 ] && json_lines "$W/out" "'reason' in j" && ! [ -s "$W/err" ]
check $? "moatctl events -j: JSON lines ($(wc -l <"$W/out")), exit $RC"
timeout --preserve-status -s INT 1 "$MOATCTL" -j events -f -s "$SOCK" >"$W/out" 2>"$W/err"
RC=$?
[ "$RC" -eq 0 ] && json_lines "$W/out" "'reason' in j"
check $? "moatctl -j events -f, then SIGINT: exit $RC"

run top -j -n 2 -d 0.2 --socket "$SOCK"
[ "$RC" -eq 0 ] && json_lines "$W/out" "j['interval_s'] > 0 and 'syn_cookie' in j['rates']" &&
	[ "$(wc -l <"$W/out")" -eq 2 ]
check $? "moatctl top -j -n 2: two JSON refreshes, exit $RC"

run block 198.51.100.7 --ttl 60 -j -s "$SOCK"
[ "$RC" -eq 0 ] && json_is "$W/out" "j == {'ok': True}"
check $? "moatctl block CIDR --ttl 60 -j: {\"ok\": true}, exit $RC"
run -j -s "$SOCK" unblock 198.51.100.7
[ "$RC" -eq 0 ] && json_is "$W/out" "j == {'ok': True}"
check $? "moatctl -j -s S unblock CIDR: exit $RC"
run reload --socket "$SOCK"
[ "$RC" -eq 0 ] && [ "$(cat "$W/out")" = ok ]
check $? "moatctl reload (text): 'ok', exit $RC"

echo "== errors from the daemon: exit 1"
want_json_error 1 unblock 198.51.100.7 -j --socket "$SOCK"
want_json_error 1 -j --socket "$SOCK" unallow 2001:db8::1
want_json_error 1 limits set no_such_limit=5 -j --socket "$SOCK"
want_json_error 1 --socket "$SOCK" flows --state NO_SUCH_STATE --json
want_plain_error 1 unblock 198.51.100.7 --socket "$SOCK"
grep -q 'not on the deny list' "$W/err"
check $? "the daemon's own message on stderr: $(cat "$W/err")"
if command -v setpriv >/dev/null; then
	# Past the socket's mode (CAP_DAC_OVERRIDE), moatd itself refuses anyone but root.
	nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_override \
			--ambient-caps=+dac_override "$@"
	}
	for cmd in status events; do
		nobody "$MOATCTL" "$cmd" -j -s "$SOCK" >"$W/out" 2>"$W/err"
		RC=$?
		[ "$RC" -eq 1 ] && json_is "$W/out" "j['exit'] == 1 and 'permission denied' in j['error']"
		check $? "moatctl $cmd -j as nobody: moatd's refusal as a JSON error, exit $RC"
	done
fi

kill "$MOATD_PID"
wait "$MOATD_PID"
rc=$?
MOATD_PID=
check "$rc" "moatd stopped cleanly on SIGTERM (exit $rc)"

echo "# $((SECONDS - START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
