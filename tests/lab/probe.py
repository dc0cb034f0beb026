#!/usr/bin/env python3
"""Small client probes for the Phalanx lab (run them inside a lab namespace).

    probe.py http HOST [PORT] [-n N] [--path P] [--src ADDR]   N requests on ONE keep-alive connection
    probe.py tcp  HOST [PORT] [--data S] [--src ADDR]          connect, send S, expect it echoed back
    probe.py udp  HOST [PORT] [--data S] [--src ADDR]          one datagram, expect it echoed back

Prints what the server answered (for http: one body line per request, which
names the client address the server saw).  Exit 0 on success, 1 on failure
(refused, timeout, wrong answer), 2 on usage errors.  --timeout bounds every
wait (default 3 s).  Default ports: http 80, tcp 443, udp 7.
"""

import argparse
import socket
import sys


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def sock_for(a, kind):
    s = socket.socket(family(a.host), kind)
    s.settimeout(a.timeout)
    if a.src:
        s.bind((a.src, 0))
    return s


def read_response(f):
    status = f.readline()
    if not status:
        raise ConnectionError("connection closed before a response")
    parts = status.split()
    if len(parts) < 2:
        raise ValueError("bad status line %r" % status)
    code = int(parts[1])
    length = 0
    close = False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "connection" and "close" in v.lower():
            close = True
    body = f.read(length) if length else b""
    if len(body) != length:
        raise ConnectionError("short body")
    return code, body, close


def do_http(a):
    port = a.port or 80
    s = sock_for(a, socket.SOCK_STREAM)
    s.connect((a.host, port))
    f = s.makefile("rb")
    hosthdr = "[%s]" % a.host if ":" in a.host else a.host
    ok = True
    for i in range(a.n):
        last = i == a.n - 1 and a.close
        req = "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (a.path, hosthdr, "Connection: close\r\n" if last else "")
        s.sendall(req.encode())
        code, body, close = read_response(f)
        sys.stdout.write(body.decode("latin-1"))
        if code != 200:
            print("probe: HTTP status %d" % code, file=sys.stderr)
            ok = False
        if close and i != a.n - 1:
            print("probe: server closed the connection after request %d" % (i + 1), file=sys.stderr)
            return 1
    s.close()
    return 0 if ok else 1


def do_tcp(a):
    port = a.port or 443
    s = sock_for(a, socket.SOCK_STREAM)
    s.connect((a.host, port))
    data = a.data.encode()
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    print(got.decode("latin-1"))
    return 0 if got == data else 1


def do_udp(a):
    port = a.port or 7
    s = sock_for(a, socket.SOCK_DGRAM)
    s.connect((a.host, port))
    data = a.data.encode()
    s.send(data)
    got = s.recv(65536)
    s.close()
    print(got.decode("latin-1"))
    return 0 if got == data else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["http", "tcp", "udp"])
    p.add_argument("host")
    p.add_argument("port", type=int, nargs="?", default=0)
    p.add_argument("-n", type=int, default=1, help="http: requests on the one connection")
    p.add_argument("--path", default="/")
    p.add_argument("--close", action="store_true", help="http: ask to close after the last request")
    p.add_argument("--src", help="source address to bind")
    p.add_argument("--data", default="phalanx-lab-probe")
    p.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    try:
        return {"http": do_http, "tcp": do_tcp, "udp": do_udp}[a.kind](a)
    except (OSError, ValueError, ConnectionError) as e:
        print("probe: %s %s:%s: %s" % (a.kind, a.host, a.port or "default", e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
