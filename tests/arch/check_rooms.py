#!/usr/bin/env python3
"""Every #include of the tree against the rooms of docs/architecture.md.

    check_rooms.py SOURCE_ROOT

Prints one line per room and one per include a room may not have; exit 1 when
there is any. The table below is docs/architecture.md's "may include" column.
"""
import os
import re
import sys

# Room -> project rooms its files may include ("" = a file beside it, e.g. a skeleton).
ALLOWED = {
    "core": {"core"},
    "flow": {"core", "flow"},
    "xdp": {"core", "xdp", ""},
    "control": {"core", "flow", "control"},
    "daemon": {"core", "flow", "control", "daemon", "xdp"},
    "cli": {"core", "flow", "control", "cli"},
    "dataplane": {"core", "flow", "dataplane", "control"},
}
# Files that run per packet: on top of their room's rule, no control/ and no JSON.
PER_PACKET = {"dataplane/worker.c", "dataplane/proxy.c", "dataplane/dp.h"}
# System headers that mean YAML, JSON, HTTP, pcap or sockets.
OFF_PATH = re.compile(r"^(yaml\.h|json-c/|microhttpd\.h|pcap|sys/socket\.h|sys/un\.h|netinet/)")
# Rooms that must stay free of them.
NO_OFF_PATH = {"core", "flow"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def includes(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield n, m.group(1), m.group(2)


def room_of(include, own_room):
    if "/" not in include:
        return "" if own_room != "core" else "core"  # core's headers name each other bare
    return include.split("/", 1)[0]


def check_file(root, rel, room):
    bad = []
    for n, kind, inc in includes(os.path.join(root, rel)):
        where = f"{rel}:{n}: #include {kind}{inc}{'>' if kind == '<' else kind}"
        if kind == "<":
            if room == "core":
                bad.append(f"{where}: core/ includes no system header (no libc)")
            elif (room in NO_OFF_PATH or rel in PER_PACKET) and OFF_PATH.match(inc):
                bad.append(f"{where}: no YAML, JSON, HTTP, pcap or sockets in per-packet code")
            continue
        target = room_of(inc, room)
        if target not in ALLOWED[room]:
            bad.append(f"{where}: {room}/ may not include {target or 'a bare'}/ headers")
        elif rel in PER_PACKET and target == "control":
            bad.append(f"{where}: per-packet code includes no control/ header")
    return bad


def main():
    root = sys.argv[1]
    failures = []
    for room in sorted(ALLOWED):
        files = sorted(f for f in os.listdir(os.path.join(root, room)) if f.endswith((".c", ".h")))
        bad = [b for f in files for b in check_file(root, f"{room}/{f}", room)]
        print(f"{'ok' if not bad else 'FAIL'}: {room}/ ({len(files)} files) includes only "
              f"{', '.join(sorted(r + '/' for r in ALLOWED[room] if r))}")
        failures += bad
    for b in failures:
        print(f"FAIL: {b}")
    print(f"{len(ALLOWED) - len({b.split('/', 1)[0] for b in failures})} passed, "
          f"{len({b.split('/', 1)[0] for b in failures})} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
