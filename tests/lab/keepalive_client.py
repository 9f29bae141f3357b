#!/usr/bin/python3
"""Idle HTTP/1.1 keep-alive connections that must outlive whatever happens meanwhile.

keepalive_client.py ADDR PORT N GO_FILE OUT_JSON: opens N connections to
ADDR:PORT, makes one request on each (GET /), prints "ready N" and then waits,
sending nothing, until GO_FILE exists. It then makes a second request on each
of the same sockets (never reconnecting) and writes to OUT_JSON how many
answered 200 and, for the others, what happened (reset, closed, timeout).
"""
import json
import os
import socket
import sys
import time


def request(sock, host):
    """One GET / on sock: the status code, or raises on a reset, close or timeout."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer mid-body")
        body += chunk
    return int(head.split(b" ")[1])


def main():
    addr, port, n, go, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    socks = []
    for _ in range(n):
        s = socket.create_connection((addr, port), timeout=10)
        if request(s, addr) != 200:
            sys.exit("first request refused")
        socks.append(s)
    print("ready", n, flush=True)
    while not os.path.exists(go):
        time.sleep(0.1)
    ok, failed = 0, []
    for i, s in enumerate(socks):
        s.settimeout(5)
        try:
            code = request(s, addr)
            ok += code == 200
            if code != 200:
                failed.append({"conn": i, "error": "status %d" % code})
        except (OSError, ConnectionError) as e:
            failed.append({"conn": i, "error": type(e).__name__ + ": " + str(e)})
    for s in socks:
        s.close()
    with open(out, "w") as f:
        json.dump({"connections": n, "answered": ok, "failed": failed}, f)


if __name__ == "__main__":
    main()
