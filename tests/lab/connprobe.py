#!/usr/bin/env python3
"""connprobe.py DST PORT COUNT SRC[,SRC...] [READY_FILE [TIMEOUT_S]]

Opens a new TCP connection every 100 ms (COUNT attempts, bounded:
TIMEOUT_S, default 1, connect/reply timeout each: with 1 a SYN lost once
fails the attempt, with 3.5 the kernel's retransmit after 1 s may still
complete it), sources round-robin, sends one byte to the
lab server's echo service and waits for it back.  Prints one line per
attempt: "START_S END_S ok|fail" (epoch seconds).  READY_FILE is created
once an attempt has succeeded.  Used by t_failover.sh and
tests/bench/failover.sh to time a failover from the client's side.
"""
import socket, sys, threading, time

dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
srcs = sys.argv[4].split(",")
ready = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
res = [None] * count
def attempt(i):
    t0 = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.bind((srcs[i % len(srcs)], 0))
        s.connect((dst, port))
        s.sendall(b"x")
        ok = s.recv(1) == b"x"
    except OSError:
        ok = False
    finally:
        s.close()
    res[i] = (t0, time.time(), ok)
    if ready and ok:
        open(ready, "a").close()
threads = []
start = time.time()
for i in range(count):
    delay = start + i * 0.1 - time.time()
    if delay > 0:
        time.sleep(delay)
    th = threading.Thread(target=attempt, args=(i,))
    th.start()
    threads.append(th)
for th in threads:
    th.join(5)
for r in res:
    if r:
        print("%.3f %.3f %s" % (r[0], r[1], "ok" if r[2] else "fail"))
