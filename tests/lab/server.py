#!/usr/bin/env python3
"""Phalanx lab server: the services the lab's clients reach through the array.

    server.py [--http PORT] [--https PORT] [--udp PORT] [--bind ADDR ...]
              [--log FILE] [--quiet] [--http-idle S] [--hold-idle S]

  --http   HTTP/1.1 with keep-alive (default 80): many requests on one
           connection, pipelining, Content-Length bodies.  Paths:
             /            "ok <client-ip> <client-port> <n-th request on conn>\n"
             /bytes/N     N bytes of 'x' (N <= 16 MiB)
             /close       answer, then close the connection
             /stats       JSON counters (open connections, totals, per source)
             anything else: same as /
  --https  plain TCP (default 443): accept, echo whatever arrives, hold until
           the peer closes or the idle timeout passes.  Not TLS.
  --udp    UDP echo (default 7): every datagram is sent back to its source.

Listens on every address given with --bind (default 0.0.0.0 and ::, the
IPv6 sockets v6-only so IPv4 peers show as plain IPv4 addresses).  Logs one
line per connection open/close and per HTTP request (--quiet: only startup,
errors and a stats line every 10 s).  Raises its own fd limit.  SIGTERM or
SIGINT stops it cleanly.  Port 0 disables a service.
"""

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import socket
import sys
import time

log = logging.getLogger("lab-server")

MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
MAX_SOURCES = 100000  # cap on the per-source table; beyond it sources are not tracked


class Stats:
    def __init__(self):
        self.started = time.time()
        self.open = {"http": 0, "tcp": 0}
        self.accepted = {"http": 0, "tcp": 0}
        self.http_requests = 0
        self.udp_datagrams = 0
        self.per_source = {}  # ip -> {"conns": n, "open": n, "requests": n, "udp": n}

    def src(self, ip):
        s = self.per_source.get(ip)
        if s is None:
            if len(self.per_source) >= MAX_SOURCES:
                return {"conns": 0, "open": 0, "requests": 0, "udp": 0}
            s = {"conns": 0, "open": 0, "requests": 0, "udp": 0}
            self.per_source[ip] = s
        return s

    def as_json(self):
        return json.dumps({
            "uptime": round(time.time() - self.started, 3),
            "open": self.open,
            "accepted": self.accepted,
            "http_requests": self.http_requests,
            "udp_datagrams": self.udp_datagrams,
            "sources": self.per_source,
        }, sort_keys=True) + "\n"


STATS = Stats()
QUIET = False


def peer_of(writer):
    p = writer.get_extra_info("peername") or ("?", 0)
    return str(p[0]), int(p[1])


def info(fmt, *args):
    if not QUIET:
        log.info(fmt, *args)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1048576
    try:
        with open("/proc/sys/fs/nr_open") as f:
            want = min(want, int(f.read().strip()))
    except (OSError, ValueError):
        pass
    for target in (want, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(target, soft), max(target, hard)))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def http_conn(reader, writer, idle):
    ip, port = peer_of(writer)
    st = STATS.src(ip)
    STATS.open["http"] += 1
    STATS.accepted["http"] += 1
    st["conns"] += 1
    st["open"] += 1
    info("http open %s %d", ip, port)
    n = 0
    reason = "eof"
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle)
            except asyncio.TimeoutError:
                reason = "idle"
                break
            except asyncio.IncompleteReadError:
                break
            except asyncio.LimitOverrunError:
                writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                reason = "header too large"
                break
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                reason = "bad request"
                break
            method, path, version = parts
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            try:
                clen = int(headers.get("content-length", "0"))
            except ValueError:
                clen = -1
            if clen < 0 or clen > MAX_BODY or "chunked" in headers.get("transfer-encoding", "").lower():
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                reason = "bad body"
                break
            if clen:
                try:
                    await asyncio.wait_for(reader.readexactly(clen), idle)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError):
                    reason = "body cut"
                    break
            n += 1
            STATS.http_requests += 1
            st["requests"] += 1
            conn_hdr = headers.get("connection", "").lower()
            keep = (version == "HTTP/1.1" and "close" not in conn_hdr) or \
                   (version == "HTTP/1.0" and "keep-alive" in conn_hdr)
            ctype = "text/plain"
            if path == "/stats":
                body = STATS.as_json().encode()
                ctype = "application/json"
            elif path.startswith("/bytes/"):
                try:
                    size = int(path[7:])
                except ValueError:
                    size = -1
                if size < 0 or size > MAX_BODY:
                    size = 0
                body = b"x" * size
            else:
                if path == "/close":
                    keep = False
                body = ("ok %s %d %d\n" % (ip, port, n)).encode()
            info("http req %s %d #%d %s %s", ip, port, n, method, path)
            resp = ("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                    "Connection: %s\r\n\r\n" % (ctype, len(body), "keep-alive" if keep else "close"))
            writer.write(resp.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
            if not keep:
                reason = "close"
                break
        await writer.drain()
    except (ConnectionError, OSError) as e:
        reason = "error %s" % e.__class__.__name__
    finally:
        STATS.open["http"] -= 1
        st["open"] -= 1
        info("http close %s %d requests=%d (%s)", ip, port, n, reason)
        try:
            writer.close()
        except Exception:
            pass


async def tcp_conn(reader, writer, idle):
    ip, port = peer_of(writer)
    st = STATS.src(ip)
    STATS.open["tcp"] += 1
    STATS.accepted["tcp"] += 1
    st["conns"] += 1
    st["open"] += 1
    info("tcp open %s %d", ip, port)
    total = 0
    reason = "eof"
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), idle)
            except asyncio.TimeoutError:
                reason = "idle"
                break
            if not data:
                break
            total += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError) as e:
        reason = "error %s" % e.__class__.__name__
    finally:
        STATS.open["tcp"] -= 1
        st["open"] -= 1
        info("tcp close %s %d bytes=%d (%s)", ip, port, total, reason)
        try:
            writer.close()
        except Exception:
            pass


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        STATS.udp_datagrams += 1
        STATS.src(str(addr[0]))["udp"] += 1
        info("udp %s %d len=%d", addr[0], addr[1], len(data))
        try:
            self.transport.sendto(data, addr)
        except OSError as e:
            log.warning("udp send to %s failed: %s", addr[0], e)

    def error_received(self, exc):
        info("udp error %s", exc)


def make_tcp_socket(host, port, backlog):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(backlog)
    s.setblocking(False)
    return s


def make_udp_socket(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    for opt, val in ((socket.SO_RCVBUF, 4 << 20), (socket.SO_SNDBUF, 4 << 20)):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, val)
        except OSError:
            pass
    s.bind((host, port))
    s.setblocking(False)
    return s


async def stats_ticker():
    last = None
    while True:
        await asyncio.sleep(10)
        line = "stats open_http=%d open_tcp=%d accepted_http=%d accepted_tcp=%d http_requests=%d udp=%d" % (
            STATS.open["http"], STATS.open["tcp"], STATS.accepted["http"],
            STATS.accepted["tcp"], STATS.http_requests, STATS.udp_datagrams)
        if line != last:
            log.info("%s", line)
            last = line


async def main(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    servers = []
    transports = []
    for host in args.bind:
        if args.http:
            sock = make_tcp_socket(host, args.http, args.backlog)
            servers.append(await asyncio.start_server(
                lambda r, w: http_conn(r, w, args.http_idle), sock=sock, limit=MAX_HEADER,
                backlog=args.backlog))
        if args.https:
            sock = make_tcp_socket(host, args.https, args.backlog)
            servers.append(await asyncio.start_server(
                lambda r, w: tcp_conn(r, w, args.hold_idle), sock=sock,
                backlog=args.backlog))
        if args.udp:
            sock = make_udp_socket(host, args.udp)
            t, _ = await loop.create_datagram_endpoint(UdpEcho, sock=sock)
            transports.append(t)
    log.info("listening on %s: http=%d tcp-hold/echo=%d udp-echo=%d (pid %d, nofile %d)",
             ",".join(args.bind), args.http, args.https, args.udp, os.getpid(), args.nofile)
    ticker = asyncio.ensure_future(stats_ticker())
    await stop.wait()
    log.info("stopping")
    ticker.cancel()
    for s in servers:
        s.close()
    for t in transports:
        t.close()


def parse_args(argv):
    p = argparse.ArgumentParser(description="Phalanx lab server (HTTP keep-alive, TCP hold/echo, UDP echo)")
    p.add_argument("--http", type=int, default=80, help="HTTP/1.1 keep-alive port (0: off)")
    p.add_argument("--https", type=int, default=443, help="plain TCP accept/echo/hold port (0: off)")
    p.add_argument("--udp", type=int, default=7, help="UDP echo port (0: off)")
    p.add_argument("--bind", action="append", help="listen address (repeatable; default 0.0.0.0 and ::)")
    p.add_argument("--log", help="log file (default stderr)")
    p.add_argument("--quiet", action="store_true", help="no per-connection/per-request lines")
    p.add_argument("--http-idle", type=float, default=120.0, help="HTTP keep-alive idle timeout, s")
    p.add_argument("--hold-idle", type=float, default=900.0, help="TCP hold idle timeout, s")
    p.add_argument("--backlog", type=int, default=4096)
    a = p.parse_args(argv)
    if not a.bind:
        a.bind = ["0.0.0.0", "::"]
    for port in (a.http, a.https, a.udp):
        if not 0 <= port <= 65535:
            p.error("port out of range: %d" % port)
    return a


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    QUIET = args.quiet
    handler = logging.FileHandler(args.log) if args.log else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    args.nofile = raise_fd_limit()
    try:
        asyncio.run(main(args))
    except OSError as e:
        log.error("fatal: %s", e)
        print("lab server: %s" % e, file=sys.stderr)
        sys.exit(1)
