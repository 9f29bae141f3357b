#!/usr/bin/python3
"""A one-file HTTP server that says what each connection negotiated.

tcpinfo_server.py ADDR PORT FILE LOG: serves FILE for any GET on ADDR:PORT and
appends one JSON line per connection to LOG with the server socket's TCP_INFO
options (timestamps, SACK, window scale and both scales, ECN), read after the
response: what `ss -ti` shows, read where this machine's ss does not print it.
"""
import json
import socket
import struct
import sys

# struct tcp_info (linux/tcp.h): u8 state, ca_state, retransmits, probes, backoff,
# options, then snd_wscale:4 | rcv_wscale:4 in one byte.
TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE, TCPI_OPT_ECN = 1, 2, 4, 8


def negotiated(conn):
    info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    opts, scales = info[5], info[6]
    return {"ts": bool(opts & TCPI_OPT_TIMESTAMPS), "sack": bool(opts & TCPI_OPT_SACK),
            "wscale": bool(opts & TCPI_OPT_WSCALE), "snd_wscale": scales & 15,
            "rcv_wscale": scales >> 4, "ecn": bool(opts & TCPI_OPT_ECN)}


def serve(conn, body, log):
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    conn.sendall(body)
    with open(log, "a") as f:
        f.write(json.dumps(negotiated(conn)) + "\n")


def main():
    addr, port, path, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    body = open(path, "rb").read()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                serve(conn, body, log)
            except OSError:
                pass


if __name__ == "__main__":
    main()
