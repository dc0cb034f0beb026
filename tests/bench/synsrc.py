#!/usr/bin/env python3
"""synsrc.py DST PORT FIRST COUNT [SECONDS] - one TCP SYN from each of COUNT
source addresses FIRST, FIRST+1, ... (IPv4, dotted) to DST:PORT through a
raw socket (needs CAP_NET_RAW; run it in a lab namespace), at most SECONDS
(default 60) in all.  pxgen synflood takes at most 256 sources; the RSS
bench needs 100,000 distinct ones, each a half-open connection the member
tracks.  Prints sent=N elapsed_ms=N timed_out=0|1."""
import random
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    dst = socket.inet_aton(sys.argv[1])
    port, count = int(sys.argv[2]), int(sys.argv[4])
    first = struct.unpack("!I", socket.inet_aton(sys.argv[3]))[0]
    limit = float(sys.argv[5]) if len(sys.argv) == 6 else 60.0
    if not (0 < port < 65536 and 0 < count <= 1 << 20 and 0 < limit <= 600):
        sys.exit("synsrc.py: port 1..65535, count 1..1048576, seconds 1..600")
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    t0 = time.monotonic()
    sent, timed_out = 0, 0
    for i in range(count):
        if i % 1000 == 0 and time.monotonic() - t0 > limit:
            timed_out = 1
            break
        src = struct.pack("!I", first + i)
        sport = random.randint(1024, 65535)
        tcp = struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32),
                          0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF,
                         0, 64, socket.IPPROTO_TCP, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        while True:
            try:
                s.sendto(ip + tcp, (sys.argv[1], 0))
                break
            except BlockingIOError:
                time.sleep(0.001)
            except OSError as e:
                if e.errno != 105:  # ENOBUFS: the queue is full, retry
                    raise
                time.sleep(0.001)
        sent += 1
    print("sent=%d elapsed_ms=%d timed_out=%d" %
          (sent, (time.monotonic() - t0) * 1000, timed_out))


main()
