#!/usr/bin/python3
"""DNS client for t_dns.sh.

    dns_client.py query SRC SERVER NAME   prints "answer N" (N bytes of the
                                          first reply, unparsed) or "none"
    dns_client.py axfr SRC SERVER ZONE    prints "records N" or "failed: why"
    dns_client.py pop3 SRC SERVER ARGLEN  POP3 on port 110: after the
                                          greeting, `USER' with an argument
                                          of ARGLEN characters; prints
                                          "ok" (answered) or "none"

Each waits at most 3 s for the server (a dropped packet is retried by
nothing: the test asks again if it wants).
"""
import socket
import sys

import dns.message
import dns.query
import dns.zone

TIMEOUT = 3.0


def query(src, server, name):
    q = dns.message.make_query(name, "A")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(TIMEOUT)
    s.sendto(q.to_wire(), (server, 53))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        print("none")
        return
    print("answer %d" % len(data))


def axfr(src, server, zone):
    try:
        z = dns.zone.from_xfr(dns.query.xfr(server, zone, source=src,
                                            timeout=TIMEOUT, lifetime=TIMEOUT))
    except Exception as e:
        print("failed: %s" % (type(e).__name__,))
        return
    print("records %d" % sum(len(r) for _, r in z.iterate_rdatasets()))


def pop3(src, server, arglen):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(TIMEOUT)
    try:
        s.connect((server, 110))
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"USER " + b"a" * int(arglen) + b"\r\n")
        line = f.readline()
    except (socket.timeout, OSError):
        line = b""
    print("ok" if line.startswith(b"+OK") else "none")


if __name__ == "__main__":
    {"query": query, "axfr": axfr, "pop3": pop3}[sys.argv[1]](*sys.argv[2:5])
