#!/usr/bin/python3
"""A tiny POP3 responder for the lab (t_dns.sh): "+OK" to every line.

    pop3_server.py ADDR PORT PIDFILE [LIFETIME_S]

Exits after LIFETIME_S (default 600) so a lost test never leaves it.
"""
import os
import socket
import sys
import threading


def conn(c):
    with c:
        c.settimeout(30)
        c.sendall(b"+OK lab POP3 ready\r\n")
        buf = b""
        while True:
            try:
                d = c.recv(4096)
            except OSError:
                return
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                c.sendall(b"+OK %d\r\n" % len(line))
                if line.strip().upper() == b"QUIT":
                    return


def main():
    addr, port, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    life = float(sys.argv[4]) if len(sys.argv) > 4 else 600
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=conn, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(pidfile + ".tmp", pidfile)
    threading.Event().wait(life)


if __name__ == "__main__":
    main()
