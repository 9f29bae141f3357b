#!/usr/bin/env bash
# Installs the Debian 12 packages moat builds, tests and demos with. Idempotent:
# does nothing (and needs no network) when everything is already there.
set -euo pipefail

packages=(
	build-essential pkg-config meson ninja-build
	clang llvm lld
	libbpf-dev bpftool linux-libc-dev
	libpcap-dev libyaml-dev libjson-c-dev libcriterion-dev libmicrohttpd-dev
	libdpdk-dev libhyperscan-dev
	python3-scapy tcpdump tshark iproute2 procps
	nginx-light hping3 netsniff-ng curl ethtool
	bird2
	debhelper dpkg-dev fakeroot lintian scdoc man-db
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "moat: missing Debian packages: ${missing[*]}" >&2
	echo "moat: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "moat: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab runs its own nginx inside a namespace: stop the service the package just started.
if printf '%s\n' "${missing[@]}" | grep -qx nginx-light && command -v systemctl >/dev/null &&
	[ -d /run/systemd/system ]; then
	systemctl disable --now nginx >/dev/null 2>&1 || true
fi
# The fleet lab runs its own BIRDs (own config, socket, pid): the packaged one stays off.
if printf '%s\n' "${missing[@]}" | grep -qx bird2 && command -v systemctl >/dev/null &&
	[ -d /run/systemd/system ]; then
	systemctl disable --now bird >/dev/null 2>&1 || true
fi
