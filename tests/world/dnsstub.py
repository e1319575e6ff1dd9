#!/usr/bin/env python3
"""dnsstub.py - a tiny DNS server for the answers dnsmasq will not give.

The test world's dnsmasq forwards the names listed here to this stub
(--server=/NAME/ADDR).  Each name has one failure mode:

  servfail   RCODE 2, no records
  refused    RCODE 5, no records
  nxdomain   RCODE 3, no records
  timeout    no answer at all (UDP ignored; TCP held open, then closed)
  truncated  UDP: TC bit set, no records; TCP: the records given
  wrongid    an answer whose ID differs from the query's
  comploop   an answer record whose owner name is a compression pointer
             to itself
  bigtxt     one TXT record of SIZE bytes (default 4096) split into
             strings of at most 255 bytes, the first one PREFIX; over UDP
             only if the query's EDNS buffer holds it, else TC; over TCP
             always
  answer     a plain answer with the records given (for completeness)

Usage:
  dnsstub.py --listen ADDR[,ADDR...] [--port 53] --config FILE
             [--forward ADDR:PORT] [--pid-file FILE] [--log FILE]

Config file, one name a line ('#' starts a comment):
  NAME MODE [ARG...]
  truncated/answer: TYPE VALUE  (A 127.0.1.9 | AAAA fd00::9 | TXT text)
  bigtxt:           [SIZE [PREFIX...]]

Queries for other names get NXDOMAIN, or with --forward ADDR:PORT are
relayed byte for byte to that resolver (the stub then stands in front of
dnsmasq, so a client sees the malformed answers themselves).  Only the
standard library is used.
Runs in the foreground until SIGTERM or SIGINT.
"""

import argparse
import ipaddress
import os
import signal
import socket
import struct
import sys
import socketserver
import threading

T_A, T_AAAA, T_TXT = 1, 28, 16
TYPES = {"A": T_A, "AAAA": T_AAAA, "TXT": T_TXT}
MODES = ("servfail", "refused", "nxdomain", "timeout", "truncated",
         "wrongid", "comploop", "bigtxt", "answer")


def log(msg):
    sys.stderr.write("dnsstub[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def load_config(path):
    names = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            w = line.split()
            if len(w) < 2 or w[1] not in MODES:
                raise SystemExit("%s:%d: expected NAME MODE [ARG...], MODE one of %s"
                                 % (path, lineno, " ".join(MODES)))
            name = w[0].lower().rstrip(".")
            mode, args = w[1], w[2:]
            ent = {"mode": mode, "rrs": [], "size": 4096, "prefix": b""}
            if mode in ("truncated", "answer") and args:
                if len(args) < 2 or args[0].upper() not in TYPES:
                    raise SystemExit("%s:%d: expected TYPE VALUE after %s"
                                     % (path, lineno, mode))
                ent["rrs"].append((TYPES[args[0].upper()], " ".join(args[1:])))
            if mode == "bigtxt":
                if args:
                    ent["size"] = int(args[0])
                if len(args) > 1:
                    ent["prefix"] = " ".join(args[1:]).encode()
            names[name] = ent
    return names


def parse_query(data):
    """(id, flags, qname, qtype, qclass, question bytes, edns size)."""
    if len(data) < 12:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", data[:12])
    if qd != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        if n & 0xC0:
            return None
        pos += 1
        if n == 0:
            break
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    question = data[12:pos + 4]
    pos += 4
    edns = 0
    # An OPT record in the additional section: root name, type 41,
    # class = the requester's UDP payload size.
    if ar >= 1 and pos + 11 <= len(data) and data[pos] == 0:
        rtype, rclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        if rtype == 41:
            edns = rclass
    return qid, flags, ".".join(labels).lower(), qtype, qclass, question, edns


def rdata(rtype, value):
    if rtype == T_A:
        return ipaddress.IPv4Address(value).packed
    if rtype == T_AAAA:
        return ipaddress.IPv6Address(value).packed
    b = value.encode()
    out = b""
    for i in range(0, max(len(b), 1), 255):
        chunk = b[i:i + 255]
        out += bytes([len(chunk)]) + chunk
    return out


def rr(owner, rtype, data, ttl=60):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(data)) + data


def header(qid, qflags, rcode, an, tc=False, aa=True, ar=0):
    flags = 0x8000 | (qflags & 0x0100)          # QR, copy RD
    flags |= 0x0080                              # RA
    if aa:
        flags |= 0x0400
    if tc:
        flags |= 0x0200
    flags |= rcode & 0xF
    return struct.pack("!6H", qid, flags, 1, an, 0, ar)


def big_txt(size, prefix):
    data = bytearray(prefix)
    i = 0
    while len(data) < size:
        data += (" pad%04d=%s;" % (i, "x" * 40)).encode()
        i += 1
    data = bytes(data[:size])
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([len(chunk)]) + chunk
    return out


def answer(names, data, tcp):
    """The reply bytes for one query, or None for no reply at all."""
    q = parse_query(data)
    if q is None:
        return None
    qid, qflags, qname, qtype, qclass, question, edns = q
    ent = names.get(qname)
    ptr = b"\xc0\x0c"                            # the question's name
    if ent is None:
        return header(qid, qflags, 3, 0) + question
    mode = ent["mode"]
    log("%s %s type %d mode %s" % ("tcp" if tcp else "udp", qname, qtype, mode))
    if mode == "servfail":
        return header(qid, qflags, 2, 0, aa=False) + question
    if mode == "refused":
        return header(qid, qflags, 5, 0, aa=False) + question
    if mode == "nxdomain":
        return header(qid, qflags, 3, 0) + question
    if mode == "timeout":
        return None
    if mode == "wrongid":
        rrs = [rr(ptr, T_A, rdata(T_A, "127.0.9.9"))] if qtype == T_A else []
        return header(qid ^ 0x5A5A, qflags, 0, len(rrs)) + question + b"".join(rrs)
    if mode == "comploop":
        # The answer's owner name is a pointer to its own offset.
        off = 12 + len(question)
        owner = struct.pack("!H", 0xC000 | off)
        body = rr(owner, qtype if qtype in (T_A, T_TXT) else T_A,
                  rdata(T_A, "127.0.9.9") if qtype != T_TXT else rdata(T_TXT, "loop"))
        return header(qid, qflags, 0, 1) + question + body
    if mode == "bigtxt":
        if qtype != T_TXT:
            return header(qid, qflags, 0, 0) + question
        body = rr(ptr, T_TXT, big_txt(ent["size"], ent["prefix"]))
        msg = header(qid, qflags, 0, 1) + question + body
        limit = max(edns, 512)
        if not tcp and len(msg) > limit:
            return header(qid, qflags, 0, 0, tc=True) + question
        return msg
    # truncated, answer
    if mode == "truncated" and not tcp:
        return header(qid, qflags, 0, 0, tc=True) + question
    rrs = [rr(ptr, t, rdata(t, v)) for t, v in ent["rrs"] if t == qtype]
    return header(qid, qflags, 0, len(rrs)) + question + b"".join(rrs)


def forward(data, addr, port, tcp, timeout=4.0):
    """Relays one query to the resolver behind the stub, bytes unchanged."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        if not tcp:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(data, (addr, port))
                return s.recv(65535)
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(data)) + data)
            hdr = recv_exact(s, 2)
            return recv_exact(s, struct.unpack("!H", hdr)[0])
    except (OSError, ValueError):
        return None


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ValueError("short read")
        buf += chunk
    return buf


class Server:
    TCP_IDLE = 10.0         # seconds a TCP client may stay silent

    def __init__(self, names, fwd):
        self.names, self.fwd = names, fwd

    def reply(self, data, tcp):
        q = parse_query(data)
        if q is not None and self.fwd and q[2] not in self.names:
            return forward(data, self.fwd[0], self.fwd[1], tcp)
        return answer(self.names, data, tcp)

    def servers(self, addrs, port):
        srv = self
        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                r = srv.reply(data, False)
                if r is not None:
                    sock.sendto(r, self.client_address)

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self):
                c = self.request
                c.settimeout(srv.TCP_IDLE)
                try:
                    while True:
                        n = struct.unpack("!H", recv_exact(c, 2))[0]
                        r = srv.reply(recv_exact(c, n), True)
                        if r is not None:
                            c.sendall(struct.pack("!H", len(r)) + r)
                except (OSError, ValueError):
                    pass

        out = []
        for a in addrs:
            six = ":" in a
            for base, h in ((socketserver.ThreadingUDPServer, UDPHandler),
                            (socketserver.ThreadingTCPServer, TCPHandler)):
                cls = type("S", (base,), {
                    "address_family": socket.AF_INET6 if six else socket.AF_INET,
                    "allow_reuse_address": True, "daemon_threads": True})
                out.append(cls((a, port), h))
        return out


def main():
    ap = argparse.ArgumentParser(description="DNS stub of the test world")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--config", required=True)
    ap.add_argument("--pid-file")
    ap.add_argument("--log")
    ap.add_argument("--forward", help="ADDR:PORT that answers every other name")
    a = ap.parse_args()
    if a.log:
        fd = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    names = load_config(a.config)
    fwd = None
    if a.forward:
        host, _, port = a.forward.rpartition(":")
        fwd = (host.strip("[]"), int(port))
    servers = Server(names, fwd).servers(a.listen.split(","), a.port)
    for s in servers:
        threading.Thread(target=s.serve_forever, args=(0.25,), daemon=True).start()
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if a.pid_file:
        with open(a.pid_file + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(a.pid_file + ".tmp", a.pid_file)
    log("listening on %s port %d, %d names%s" % (
        a.listen, a.port, len(names), ", forwarding the rest to " + a.forward if fwd else ""))
    while not done.wait(1.0):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    log("stopped")


if __name__ == "__main__":
    main()
