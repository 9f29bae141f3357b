#!/usr/bin/env python3
"""Ask a running moat-dp's DPDK telemetry socket for /moat/... and check the answers.

    telemetry_check.py FILE_PREFIX

A client of the documented protocol: a SOCK_SEQPACKET connection to
/var/run/dpdk/FILE_PREFIX/dpdk_telemetry.v2, which first sends its own info
({"version", "pid", "max_output_len"}); then one command per message, one JSON
object per answer, {COMMAND: DATA}. Prints one line per check; exit 1 on a failure.
"""
import json
import socket
import sys

failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    failures += 0 if ok else 1


def main():
    path = f"/var/run/dpdk/{sys.argv[1]}/dpdk_telemetry.v2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    info = json.loads(s.recv(16384))
    size = info["max_output_len"]

    def ask(cmd):
        s.send(cmd.encode())
        return json.loads(s.recv(size))[cmd.split(",")[0]]

    cmds = ask("/")
    check(all(c in cmds for c in ("/moat/stats", "/moat/lcores", "/moat/flows", "/moat/status")),
          "telemetry lists /moat/stats, /moat/lcores, /moat/flows, /moat/status")
    st = ask("/moat/stats")
    tx = sum(st[f"reasons/{r}"] for r in ("syn_cookie", "challenge_ack", "proxy_ack"))
    check(st["rx"] > 0 and st["reasons/syn_cookie"] > 0 and st["verdicts/tx"] == tx,
          f"/moat/stats: rx {st['rx']}, reasons/syn_cookie {st['reasons/syn_cookie']}, "
          f"verdicts/tx {st['verdicts/tx']} (= the tx reasons)")
    lc = ask("/moat/lcores")
    one = ask("/moat/lcores,1")
    check(lc.get("1/lcore") == 1 and one.get("lcore") == 1 and one["rx"] >= lc["1/rx"] > 0,
          f"/moat/lcores: lcore 1 rx {lc.get('1/rx')}, then /moat/lcores,1 rx {one.get('rx')}")
    fl = ask("/moat/flows")
    check(fl.get("capacity", 0) > 0 and "flows/ESTABLISHED" in fl,
          f"/moat/flows: capacity {fl.get('capacity')}, ESTABLISHED {fl.get('flows/ESTABLISHED')}")
    status = ask("/moat/status")
    check(status.get("pid") == info["pid"] and status.get("workers") == 1 and
          status.get("pairs") == ["1:0"],
          f"/moat/status: pid {status.get('pid')} (the socket's {info['pid']}), "
          f"pairs {status.get('pairs')}, workers {status.get('workers')}")
    print(json.dumps({"rx": st["rx"]}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
