#!/usr/bin/python3
# ids_send.py KIND SRC DST PORT [COUNT] - crafted packets for t_ids.sh
# (scapy from Debian), sent from a lab client namespace out of eth0.
# Each call uses a fresh random source port (but land) and sequence, so no
# earlier conntrack entry lets the packets through as an established flow.
#   syn        COUNT TCP SYNs SRC -> DST:PORT (the traffic without attack)
#   land       COUNT TCP SYNs DST:PORT -> DST:PORT (SRC unused: the
#              source is the destination; land attack)
#   landport   COUNT TCP SYNs SRC:PORT -> DST:PORT (the same port, not
#              the same address: no land attack)
#   urg        COUNT TCP SYN+URG with 4 bytes of data to DST:PORT
#              (WinNuke when PORT is 139)
#   fin, null, xmas, synfin   COUNT TCP packets with those flags
#   udp        COUNT UDP datagrams with 20 bytes and a right length
#   udpshort   COUNT UDP datagrams whose length field says 4 (< header)
#   udplong    COUNT UDP datagrams whose length field says 1000 (> packet)
#   ports      one TCP SYN to each of PORT .. PORT+COUNT-1
#   handshakes COUNT SYNs from fresh source ports: the server's SYN-ACK
#              is answered by the client's kernel with a RST (no socket
#              of its own), the half scan's RST instead of the final ACK
#   frag       COUNT UDP datagrams of 3000 bytes in 1000-byte fragments
#   pod        COUNT pings of death: an ICMP echo's first fragment and a
#              last one at offset 65,512 with 100 bytes (ends at 65,632)
import random
import sys

from scapy.all import ICMP, IP, TCP, UDP, Raw, conf, fragment, send

conf.verb = 0
kind, src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
n = min(int(sys.argv[5]) if len(sys.argv) > 5 else 3, 100)  # bounded
sport = random.randint(20000, 60000)
seq = random.randint(1, 2**31)
flags = {"syn": "S", "land": "S", "landport": "S", "urg": "SU", "fin": "F",
         "null": "", "xmas": "FPU", "synfin": "SF"}
if kind in flags:
    s, sp = src, sport
    if kind == "land":
        s, sp = dst, port
    elif kind == "landport":
        sp = port
    tcp = TCP(sport=sp, dport=port, flags=flags[kind], seq=seq)
    if kind == "urg":
        tcp.urgptr = 4
        pkts = [IP(src=s, dst=dst) / tcp / Raw(b"OOB!")] * n
    else:
        pkts = [IP(src=s, dst=dst) / tcp] * n
elif kind in ("udp", "udpshort", "udplong"):
    ulen = {"udp": None, "udpshort": 4, "udplong": 1000}[kind]
    u = UDP(sport=sport, dport=port)
    if ulen is not None:
        u.len = ulen
    pkts = [IP(src=src, dst=dst) / u / Raw(b"x" * 20)] * n
elif kind == "ports":
    pkts = [IP(src=src, dst=dst) / TCP(sport=sport, dport=port + i, flags="S", seq=seq)
            for i in range(n)]
elif kind == "handshakes":
    pkts = [IP(src=src, dst=dst) / TCP(sport=sport + i, dport=port, flags="S", seq=seq)
            for i in range(n)]
elif kind == "frag":
    pkts = []
    for i in range(n):
        pkts += fragment(IP(src=src, dst=dst, id=random.randint(1, 65535)) /
                         UDP(sport=sport, dport=port) / Raw(b"y" * 3000), fragsize=1000)
elif kind == "pod":
    pkts = []
    for i in range(n):
        ident = random.randint(1, 65535)
        pkts.append(IP(src=src, dst=dst, id=ident, flags="MF", frag=0) /
                    ICMP(id=ident) / Raw(b"a" * 1472))
        pkts.append(IP(src=src, dst=dst, id=ident, flags=0, frag=8189, proto=1) /
                    Raw(b"b" * 100))
else:
    sys.exit("ids_send.py: unknown kind `%s'" % kind)
send(pkts, iface="eth0")
