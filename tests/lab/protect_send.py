#!/usr/bin/python3
# protect_send.py KIND SRC DST [COUNT] - crafted packets for t_protect.sh
# (scapy from Debian), sent from a lab client namespace out of eth0.
# Each call uses a fresh random source port, so no earlier conntrack
# entry lets the packets through as an established flow.  Every packet
# is UDP to the discard port 9, which the server counts.
#   plain  COUNT datagrams (IPv6 if DST is an IPv6 address)
#   lsrr   with a loose source route option (as a sender builds it)
#   rr     with a record route option (not a source route)
#   frag   COUNT datagrams of 3000 bytes in 1000-byte fragments
import random
import sys

from scapy.all import IP, IPv6, UDP, IPOption_LSRR, IPOption_RR, Raw, conf, fragment, send

conf.verb = 0
kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
n = min(int(sys.argv[4]) if len(sys.argv) > 4 else 3, 100)  # bounded
sport = random.randint(20000, 60000)
udp = UDP(sport=sport, dport=9)
if kind == "plain":
    ip = IPv6(src=src, dst=dst) if ":" in dst else IP(src=src, dst=dst)
    pkts = [ip / udp / Raw(b"x" * 20)] * n
elif kind == "lsrr":
    pkts = [IP(src=src, dst=dst, options=[IPOption_LSRR(routers=[dst])]) / udp / Raw(b"x" * 20)] * n
elif kind == "rr":
    pkts = [IP(src=src, dst=dst, options=[IPOption_RR(routers=["0.0.0.0"])]) / udp / Raw(b"x" * 20)] * n
elif kind == "frag":
    pkts = []
    for i in range(n):
        pkts += fragment(IP(src=src, dst=dst, id=random.randint(1, 65535)) / udp / Raw(b"y" * 3000), fragsize=1000)
else:
    sys.exit("protect_send.py: unknown kind `%s'" % kind)
send(pkts, iface="eth0")
