#!/usr/bin/python3
# dhcp_send.py SRC DST YIADDR [COUNT] - COUNT (3, at most 20) DHCP offers
# for t_ids_dhcp.sh (scapy from Debian): UDP 67 -> 68 from SRC to DST out
# of eth0, a BOOTP reply offering YIADDR with DHCP message type OFFER.
import random
import sys

from scapy.all import BOOTP, DHCP, IP, UDP, conf, send

conf.verb = 0
src, dst, yiaddr = sys.argv[1], sys.argv[2], sys.argv[3]
n = min(int(sys.argv[4]) if len(sys.argv) > 4 else 3, 20)  # bounded
xid = random.randint(1, 2**32 - 1)
offer = (IP(src=src, dst=dst) / UDP(sport=67, dport=68) /
         BOOTP(op=2, xid=xid, yiaddr=yiaddr, siaddr=src,
               chaddr=b"\x02\x00\x00\x00\x00\x01") /
         DHCP(options=[("message-type", "offer"), ("server_id", src),
                       ("lease_time", 600), "end"]))
send([offer] * n, iface="eth0")
