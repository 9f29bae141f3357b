#!/usr/bin/env bash
# The Debian package, end to end: dpkg-buildpackage in a scratch copy of the tree
# (the main build/ and the source tree stay untouched), the .deb unpacked with
# dpkg -x, what it ships run from there, and lintian.
#
# dpkg -x, not dpkg --root: --root runs the maintainer scripts chrooted into the
# scratch root, which has no shell, libc or deb-systemd-helper (and
# --force-script-chrootless would run them against this host's systemd). The
# maintainer scripts are checked as text instead.
#
#   tests/pkg/pkg_test.sh [SOURCE_DIR]      exit 0 pass, 1 fail, 77 skip
#   MOAT_PKG_KEEP=1: keep the scratch folder (the .deb, logs, the unpacked root).
set -euo pipefail

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
fails=0
work=""
netns=""

skip() {
	echo "SKIP: $*"
	exit 77
}
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
cleanup() {
	[ -n "$netns" ] && ip netns del "$netns" 2>/dev/null
	if [ -n "$work" ]; then
		if [ "${MOAT_PKG_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
	fi
	return 0
}
trap cleanup EXIT

for tool in dpkg-buildpackage dpkg-checkbuilddeps dh lintian scdoc fakeroot groff man tar; do
	command -v "$tool" >/dev/null ||
		skip "$tool is not installed (deploy/install-deps.sh installs the packaging tools)"
done
if ! missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
	skip "build dependencies missing: ${missing#*: }"
fi

work=$(mktemp -d /tmp/moat-pkg.XXXXXX)
tree=$work/moat
mkdir "$tree"

# The files meson sees: tracked and new ones (not ignored build dirs), as they
# are now in the working tree; without git, everything but the build dirs.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z -c -o --exclude-standard) |
		while IFS= read -r -d '' f; do
			# A tracked file deleted in the working tree is not there to copy.
			if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
	tar -C "$src" --exclude='./build*' --exclude=./debian/build --exclude=./debian/moat \
		--exclude=./debian/.debhelper -cf - . | tar -C "$tree" -xf -
fi

version=$(sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$src/meson.build" | head -n1)
changelog=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
if [ "$version" = "$changelog" ]; then
	ok "debian/changelog version $changelog is meson.build's project version"
else
	bad "debian/changelog says $changelog, meson.build's project version is $version"
fi

start=$(date +%s)
if ! (cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -uc -us) \
	>"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log"
	echo "FAIL: dpkg-buildpackage failed (log above)"
	exit 1
fi
deb=$work/moat_${changelog}_${arch}.deb
if [ ! -f "$deb" ]; then
	ls "$work"
	echo "FAIL: dpkg-buildpackage made no $(basename "$deb")"
	exit 1
fi
ok "dpkg-buildpackage -b made $(basename "$deb") in $(($(date +%s) - start)) s"

root=$work/root
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$work/control"

# What goes where.
for f in usr/sbin/moatd usr/sbin/moat-dp usr/bin/moatctl; do
	[ -x "$root/$f" ] || bad "/$f missing or not executable"
done
for f in lib/systemd/system/moatd.service lib/systemd/system/moatd-dpdk.service \
	lib/systemd/system/moat-dp.service etc/moat/moat.yaml etc/moat/moat-dp.yaml \
	etc/moat/moat-dp.env usr/share/bash-completion/completions/moatctl \
	usr/share/man/man8/moatd.8.gz usr/share/man/man8/moat-dp.8.gz \
	usr/share/man/man8/moatctl.8.gz usr/share/man/man5/moat.yaml.5.gz; do
	[ -f "$root/$f" ] || bad "/$f missing"
done
stray=$(cd "$root" && find . -path '*/tests/*' -o -name '*.bpf.o' -o -path ./usr/local -o -name '*.a')
[ -z "$stray" ] && ok "no tests, BPF objects, static libraries or /usr/local in the package" ||
	bad "the package holds: $stray"
for c in /etc/moat/moat.yaml /etc/moat/moat-dp.yaml /etc/moat/moat-dp.env; do
	grep -qx "$c" "$work/control/conffiles" || bad "$c is not a conffile"
done
ok "conffiles: $(tr '\n' ' ' <"$work/control/conffiles")"

# Units: the installed paths, sections intact, installed but not enabled or started.
for u in "$root"/lib/systemd/system/*.service; do
	n=$(basename "$u")
	if grep -q /usr/local "$u"; then
		bad "$n still names /usr/local: $(grep -m1 /usr/local "$u")"
	fi
	for sect in '\[Unit\]' '\[Service\]' '\[Install\]' '^ExecStart=/usr/s\?bin/'; do
		grep -q "$sect" "$u" || bad "$n has no $sect"
	done
	grep -o '/usr/s\?bin/moat[a-z-]*' "$u" | sort -u | while read -r exe; do
		[ -x "$root$exe" ] || echo "FAIL: $n runs $exe, which the package does not ship"
	done | grep . && fails=$((fails + 1))
done
ok "units: $(cd "$root/lib/systemd/system" && grep -h '^ExecStart=' *.service | cut -d' ' -f1 | sort -u | tr '\n' ' ')"
n_enable=$(grep -c 'deb-systemd-helper enable' "$work/control/postinst" || true)
n_guard=$(grep -c 'deb-systemd-helper --quiet was-enabled' "$work/control/postinst" || true)
if grep -Eq 'deb-systemd-invoke .*(start|restart)' "$work/control/postinst"; then
	bad "postinst starts a unit: $(grep -m1 -E 'deb-systemd-invoke' "$work/control/postinst")"
elif [ "$n_enable" -gt "$n_guard" ]; then
	bad "postinst enables a unit the admin had not enabled"
else
	ok "postinst starts no unit and enables none (but re-enables what the admin had)"
fi
if grep -q 'deb-systemd-invoke stop .*moatd.service' "$work/control/prerm" 2>/dev/null; then
	ok "prerm stops the units on removal"
else
	bad "prerm does not stop the units on removal"
fi

# The binaries, from the unpacked tree.
if out=$("$root/usr/sbin/moatd" --check "$root/etc/moat/moat.yaml" 2>&1); then
	ok "moatd --check /etc/moat/moat.yaml: $out"
else
	bad "moatd --check /etc/moat/moat.yaml: $out"
fi
if out=$("$root/usr/sbin/moatd" --check "$root/etc/moat/moat-dp.yaml" 2>&1); then
	ok "moatd --check /etc/moat/moat-dp.yaml: $out"
else
	bad "moatd --check /etc/moat/moat-dp.yaml: $out"
fi
out=$("$root/usr/sbin/moatd" --version 2>&1) && [ "$out" = "moatd $version" ] &&
	ok "moatd --version: $out" || bad "moatd --version: $out (want moatd $version)"
"$root/usr/bin/moatctl" --help >"$work/moatctl.help" 2>&1 && grep -q '^usage: moatctl' "$work/moatctl.help" &&
	ok "moatctl --help" || bad "moatctl --help: $(head -n3 "$work/moatctl.help")"
"$root/usr/sbin/moatd" --help >"$work/moatd.help" 2>&1 || bad "moatd --help exits non-zero"
# moat-dp's own --help comes after EAL has started: no hugepages, PCI or shared files.
if "$root/usr/sbin/moat-dp" --no-huge --no-shconf --no-pci --file-prefix "moatpkg$$" -l 0 \
	-- --help >"$work/moat-dp.help" 2>"$work/moat-dp.err" && grep -q '^usage: moat-dp' "$work/moat-dp.help"; then
	ok "moat-dp -- --help"
else
	bad "moat-dp -- --help: $(tail -n3 "$work/moat-dp.err")"
fi
# ... and as its first argument, before EAL: the same text, no DPDK at all.
"$root/usr/sbin/moat-dp" --help >"$work/moat-dp.help0" 2>&1 && cmp -s "$work/moat-dp.help" "$work/moat-dp.help0" &&
	ok "moat-dp --help (before EAL) prints the same usage" || bad "moat-dp --help: $(head -n3 "$work/moat-dp.help0")"
out=$("$root/usr/sbin/moat-dp" --version 2>&1) && [ "$out" = "moat-dp $version" ] &&
	ok "moat-dp --version: $out" || bad "moat-dp --version: $out (want moat-dp $version)"
out=$("$root/usr/bin/moatctl" --version 2>&1) && [ "$out" = "moatctl $version" ] &&
	ok "moatctl --version: $out" || bad "moatctl --version: $out (want moatctl $version)"

# Man pages: render without a groff warning, and name every option --help lists.
# Wide, so that no name is hyphenated at a line end.
man_text() { MANWIDTH=1000 man -l "$root/usr/share/man/$1" 2>/dev/null | col -b; }
for m in man8/moatd.8.gz man8/moat-dp.8.gz man8/moatctl.8.gz man5/moat.yaml.5.gz; do
	warn=$( { zcat "$root/usr/share/man/$m" | groff -man -ww -z; } 2>&1)
	warn+=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/$m" 2>&1 >/dev/null)
	[ -z "$warn" ] && [ -n "$(man_text "$m")" ] && ok "man -l $m renders, no warnings" ||
		bad "man $m: ${warn:-renders empty}"
done
check_names() { # PAGE WHAT NAME...: every NAME in PAGE's text
	local page=$1 what=$2 name missing=""
	shift 2
	text=$(man_text "$page")
	for name in "$@"; do
		grep -qF -- "$name" <<<"$text" || missing+=" $name"
	done
	[ -z "$missing" ] && ok "$page names every $what ($#)" || bad "$page lacks $what:$missing"
}
long_opts() { grep -o -- '--[a-z][a-z-]*' "$1" | sort -u; }
mapfile -t o < <(long_opts "$work/moatd.help")
check_names man8/moatd.8.gz "moatd --help option" "${o[@]}"
mapfile -t o < <(long_opts "$work/moat-dp.help")
check_names man8/moat-dp.8.gz "moat-dp --help option" "${o[@]}"
mapfile -t o < <(long_opts "$work/moatctl.help")
mapfile -t cmds < <(sed -n '/^commands:/,/^$/{s/^  \([a-z]\+\) .*/\1/p}' "$work/moatctl.help")
check_names man8/moatctl.8.gz "moatctl --help option and command" "${o[@]}" "${cmds[@]}"
mapfile -t keys < <(sed -n 's/^\(  \)\?\([a-z_0-9]\+\):.*/\2/p' "$root/etc/moat/moat.yaml" "$root/etc/moat/moat-dp.yaml" | sort -u)
check_names man5/moat.yaml.5.gz "key of the sample configs" "${keys[@]}"

# Bash completion: every command of moatctl --help.
got=$(bash -c 'source "$1"; COMP_WORDS=(moatctl ""); COMP_CWORD=1; _moatctl; echo "${COMPREPLY[*]}"' _ \
	"$root/usr/share/bash-completion/completions/moatctl")
missing=""
for c in "${cmds[@]}"; do [[ " $got " == *" $c "* ]] || missing+=" $c"; done
[ ${#cmds[@]} -gt 0 ] && [ -z "$missing" ] && ok "bash completion offers every command (${#cmds[@]})" ||
	bad "bash completion lacks:${missing:- (no commands parsed from moatctl --help)}"

# The packaged moatd attaches with nothing but itself: the BPF objects are in the
# binary (skeletons). Root only: a veth in a namespace of its own.
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && ip netns add "moatpkg$$" 2>/dev/null; then
	netns=moatpkg$$
	ip -n "$netns" link add d0 type veth peer name d1
	ip -n "$netns" link set d0 up
	ip -n "$netns" link set d1 up
	printf 'interfaces: [d0]\npin_dir: /sys/fs/bpf/moatpkg%s\nmetrics: ""\n' $$ >"$work/run.yaml"
	(cd / && exec ip netns exec "$netns" "$root/usr/sbin/moatd" --config "$work/run.yaml" \
		--socket "$work/moatd.sock") >"$work/moatd.log" 2>&1 &
	mpid=$!
	for _ in $(seq 1 100); do
		"$root/usr/bin/moatctl" -s "$work/moatd.sock" status >/dev/null 2>&1 && break
		kill -0 "$mpid" 2>/dev/null || break
		sleep 0.2
	done
	if "$root/usr/bin/moatctl" -s "$work/moatd.sock" stats --json 2>/dev/null | grep -q '"reasons"'; then
		ok "the packaged moatd loaded its built-in XDP/TC programs and answers moatctl"
	else
		bad "the packaged moatd did not come up: $(tail -n5 "$work/moatd.log")"
	fi
	kill -TERM "$mpid" 2>/dev/null || true
	wait "$mpid" && ok "moatd stopped on SIGTERM, exit 0" || bad "moatd exit $? on SIGTERM"
else
	echo "note: not root (or no ip netns): the packaged moatd is not started"
fi

# lintian: no errors; warnings are printed.
start=$(date +%s)
lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || true
sed 's/^/  lintian: /' "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then
	bad "lintian reports errors"
else
	ok "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings, $(($(date +%s) - start)) s)"
fi

if [ "$fails" -ne 0 ]; then
	echo "pkg: $fails check(s) failed"
	exit 1
fi
echo "pkg: all checks passed"
