#!/usr/bin/python3
"""A tiny DNS server for the lab (t_dns.sh), on UDP and TCP.

    dns_server.py ADDR PORT PIDFILE [LIFETIME_S]

Zone example.org (dnspython's dns.zone).  Answers A queries from the
zone and AXFR over TCP (the whole zone in one message, SOA first and
last).  Names that tell it to misbehave (issue 12 item 8's attacks):
  bad-rdlen.example.org  an A record whose RDLENGTH (200) runs past the
                         message
  bad-name.example.org   an answer whose owner name is 321 bytes long
  bad-a.example.org      an A record of 8 bytes (the seed: "should be 4")
Exits after LIFETIME_S (default 600) so a lost test never leaves it.
"""
import os
import socket
import struct
import sys
import threading

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

ZONE = """
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 300
@   IN NS  ns1
ns1 IN A   203.0.113.100
www IN A   203.0.113.80
mail IN A  203.0.113.25
"""
zone = dns.zone.from_text(ZONE, origin="example.org", relativize=False)
ORIGIN = dns.name.from_text("example.org")


def good_a(q, addr="203.0.113.80"):
    r = dns.message.make_response(q)
    qn = q.question[0].name
    r.answer.append(dns.rrset.from_text(qn, 300, "IN", "A", addr))
    return r.to_wire()


def answer(wire):
    q = dns.message.from_wire(wire)
    qn = q.question[0].name
    qt = q.question[0].rdtype
    label = qn.labels[0].decode() if qn.labels else ""
    if qt == dns.rdatatype.AXFR or qt == dns.rdatatype.IXFR:
        r = dns.message.make_response(q)
        soa = zone.find_rrset(ORIGIN, dns.rdatatype.SOA)
        r.answer.append(soa)
        for name, rdataset in zone.iterate_rdatasets():
            if rdataset.rdtype != dns.rdatatype.SOA:
                rr = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
                rr.update(rdataset)
                r.answer.append(rr)
        r.answer.append(soa)
        return r.to_wire()
    if label == "bad-rdlen":
        w = bytearray(good_a(q))
        # The answer's RDLENGTH: the 2 bytes before its 4 address bytes.
        w[-6:-4] = struct.pack("!H", 200)
        return bytes(w)
    if label == "bad-a":
        w = bytearray(good_a(q))
        w[-6:-4] = struct.pack("!H", 8)
        return bytes(w) + b"\x01\x02\x03\x04"
    if label == "bad-name":
        w = bytearray(good_a(q))
        # Replace the answer's owner (a pointer, c0 0c) with 5 labels of
        # 63 bytes: 321 bytes on the wire.
        long = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
        i = len(w) - 16  # owner(2) type class ttl rdlen(10) addr(4)
        assert w[i:i + 2] == b"\xc0\x0c"
        return bytes(w[:i]) + long + bytes(w[i + 2:])
    r = dns.message.make_response(q)
    node = zone.get_node(qn)
    rds = node.get_rdataset(dns.rdataclass.IN, qt) if node else None
    if rds is None:
        r.set_rcode(dns.rcode.NXDOMAIN)
    else:
        rr = dns.rrset.RRset(qn, rds.rdclass, rds.rdtype)
        rr.update(rds)
        r.answer.append(rr)
    return r.to_wire()


def udp_loop(s):
    while True:
        data, peer = s.recvfrom(65535)
        try:
            s.sendto(answer(data), peer)
        except Exception as e:  # a malformed query: no answer
            print("udp: %s" % e, flush=True)


def tcp_conn(c):
    with c:
        c.settimeout(10)
        buf = b""
        while True:
            try:
                d = c.recv(65535)
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                msg, buf = buf[2:2 + n], buf[2 + n:]
                try:
                    out = answer(msg)
                except Exception as e:
                    print("tcp: %s" % e, flush=True)
                    return
                c.sendall(struct.pack("!H", len(out)) + out)


def tcp_loop(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def main():
    addr, port, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    life = float(sys.argv[4]) if len(sys.argv) > 4 else 600
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, port))
    t.listen(16)
    threading.Thread(target=udp_loop, args=(u,), daemon=True).start()
    threading.Thread(target=tcp_loop, args=(t,), daemon=True).start()
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pidfile + ".tmp", pidfile)
    threading.Event().wait(life)


if __name__ == "__main__":
    main()
