#!/usr/bin/python3
"""scriptmx.py - a small scripted SMTP server for the test world.

It plays the roles that real servers cannot be made to play (a broken
STARTTLS, injected plaintext, TLS 1.1 only, a 4xx at a chosen step, ...)
and records every TCP connection and every transaction it sees.

    scriptmx.py --role ROLE --name NAME --record DIR --cert PEM --key KEY
                --listen ADDR:PORT[:MODE] [--listen ...]

MODE is "smtp" (port 25, the role's behaviour), "submission" (587:
STARTTLS required before AUTH, AUTH required before MAIL) or "smtps"
(465: implicit TLS, AUTH required).  tests/world/mx/README describes the
roles and the records.  Python standard library only.
"""

import argparse
import asyncio
import base64
import binascii
import json
import logging
import os
import re
import signal
import socket
import ssl
import sys
import time

ROLES = (
    "valid", "wrongname", "expired", "cnonly", "selfsigned", "nostarttls",
    "starttls454",
    "brokenhandshake", "inject", "tls11",
    "reject-mail-4xx", "reject-mail-5xx", "reject-rcpt-4xx",
    "reject-rcpt-5xx", "reject-data-4xx", "reject-data-5xx",
    "reject-datacmd-4xx", "reject-datacmd-5xx",
    "tempfail-once", "drop", "drop-greeting", "submission", "no8bitmime",
    "slow",
)

MAX_SIZE = 10240000          # advertised SIZE
MAX_LINE = 1 << 20           # StreamReader limit: longer lines are an error
CMD_LINE_MAX = 2048          # a command line longer than this gets 500
IDLE_TIMEOUT = 120           # seconds without a command: 421 and close
DATA_TIMEOUT = 120
HANDSHAKE_TIMEOUT = 20
MAX_COMMANDS = 10000         # per connection, to bound a runaway client
TRANSCRIPT_MAX = 400         # client lines kept per connection
SLOW_DATA = 1.5              # role slow: seconds before the 354 to DATA

INJECTED = b"250-injected plaintext before the TLS handshake\r\n" \
           b"250 AUTH PLAIN LOGIN\r\n"


def now():
    return round(time.time(), 6)


class Recorder:
    """connections.jsonl, messages/N.eml and messages/N.json in RECORD_DIR."""

    def __init__(self, root):
        self.root = root
        self.msgdir = os.path.join(root, "messages")
        os.makedirs(self.msgdir, exist_ok=True)
        os.makedirs(os.path.join(root, "state"), exist_ok=True)
        self.conn_path = os.path.join(root, "connections.jsonl")
        self.next_id = 1
        self.next_msg = 1
        for f in os.listdir(self.msgdir):
            m = re.match(r"^(\d+)\.eml$", f)
            if m:
                self.next_msg = max(self.next_msg, int(m.group(1)) + 1)
        try:
            with open(self.conn_path, "rb") as f:
                self.next_id = sum(1 for _ in f) + 1
        except FileNotFoundError:
            pass

    def conn_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def write_message(self, data, meta):
        """Stores the message; returns its path relative to the record dir."""
        for _ in range(100000):
            n = self.next_msg
            self.next_msg += 1
            path = os.path.join(self.msgdir, "%d.eml" % n)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            rel = "messages/%d.eml" % n
            meta = dict(meta, file=rel)
            tmp = os.path.join(self.msgdir, ".%d.json.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(meta, f, sort_keys=True)
                f.write("\n")
            os.rename(tmp, os.path.join(self.msgdir, "%d.json" % n))
            return rel
        raise RuntimeError("no free message number")

    def write_connection(self, rec):
        line = (json.dumps(rec, sort_keys=True) + "\n").encode()
        fd = os.open(self.conn_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def state_file(self, name):
        return os.path.join(self.root, "state", name)


class Dropped(Exception):
    pass


class Session:
    def __init__(self, srv, reader, writer, mode):
        self.srv = srv
        self.role = srv.role
        self.reader = reader
        self.writer = writer
        self.mode = mode
        self.tls = False
        self.ehlo = None
        self.auth_user = None
        self.mail = None
        self.rcpts = []
        self.mail_params = ""
        self.tx = None
        peer = writer.get_extra_info("peername") or ("?", 0)
        sock = writer.get_extra_info("sockname") or ("?", 0)
        self.rec = {
            "id": srv.recorder.conn_id(),
            "role": self.role,
            "mode": mode,
            "peer": peer[0],
            "peer_port": peer[1],
            "local": sock[0],
            "port": sock[1],
            "start": now(),
            "end": None,
            "ehlo": None,
            "starttls": False,
            "tls": False,
            "tls_version": None,
            "tls_cipher": None,
            "sni": None,
            "tls_error": None,
            "auth": None,
            "transactions": [],
            "commands": [],
            "closed_by": None,
        }

    # ---- I/O ----

    async def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        self.writer.write(data)
        await self.writer.drain()

    async def readline(self, timeout=IDLE_TIMEOUT):
        try:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
        except asyncio.LimitOverrunError:
            raise Dropped("line too long")
        except ValueError:
            raise Dropped("line too long")
        return line

    def note(self, line):
        c = self.rec["commands"]
        if len(c) < TRANSCRIPT_MAX:
            c.append(line)

    # ---- TLS ----

    def hold_plaintext(self):
        """Before the 220 to STARTTLS: no more plaintext is read, and what
        the client pipelined after STARTTLS is thrown away, never read as a
        command under TLS (CVE-2011-0411 on the server side).  Reading
        resumes inside the TLS layer."""
        self.writer.transport.pause_reading()
        leftover = len(self.reader._buffer)
        if leftover:
            self.rec["plaintext_after_starttls"] = leftover
            self.reader._buffer.clear()

    async def start_tls(self, ctx):
        """Server side TLS on the connection; False if the handshake failed."""
        self.rec["starttls"] = True
        try:
            await asyncio.wait_for(
                self.writer.start_tls(ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT),
                HANDSHAKE_TIMEOUT + 5)
        except (ssl.SSLError, OSError, asyncio.TimeoutError, ConnectionError,
                asyncio.IncompleteReadError) as e:
            self.rec["tls_error"] = "%s: %s" % (type(e).__name__, e)
            return False
        self.tls_facts()
        return True

    def tls_facts(self):
        obj = self.writer.get_extra_info("ssl_object")
        self.tls = True
        self.rec["tls"] = True
        if obj is not None:
            self.rec["tls_version"] = obj.version()
            c = obj.cipher()
            self.rec["tls_cipher"] = c[0] if c else None
            self.rec["sni"] = getattr(obj, "sni_name", None)

    # ---- the session ----

    async def run(self):
        name = self.srv.name
        try:
            if self.mode == "smtps":
                self.tls_facts()    # the handshake is done (Server.accept_tls)
            await self.send("220 %s ESMTP scriptmx %s" % (name, self.role))
            if self.role == "drop-greeting":
                self.rec["closed_by"] = "drop"
                return
            await self.loop()
        except Dropped as e:
            if self.rec["closed_by"] is None:
                self.rec["closed_by"] = "server: %s" % e
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError,
                OSError) as e:
            if self.rec["closed_by"] is None:
                self.rec["closed_by"] = "error: %s" % e
        finally:
            self.finish()
            try:
                self.writer.close()
            except Exception:
                pass

    def finish(self):
        if self.rec["end"] is not None:
            return
        self.rec["end"] = now()
        if self.rec["closed_by"] is None:
            self.rec["closed_by"] = "client"
        self.srv.recorder.write_connection(self.rec)
        self.srv.live.discard(self)

    def offers_starttls(self):
        if self.tls or self.mode == "smtps":
            return False
        return self.role != "nostarttls"

    def needs_auth(self):
        return self.mode in ("submission", "smtps")

    def offers_auth(self):
        return self.needs_auth() and self.tls

    def reset_tx(self):
        self.mail = None
        self.rcpts = []
        self.mail_params = ""
        self.tx = None

    async def loop(self):
        for _ in range(MAX_COMMANDS):
            line = await self.readline()
            if not line:
                return
            if not line.endswith(b"\n"):
                return          # EOF in the middle of a line
            if len(line) > CMD_LINE_MAX:
                self.note("<line of %d bytes>" % len(line))
                await self.send("500 5.5.2 Line too long")
                continue
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb == "AUTH":
                self.note("AUTH " + arg.split(" ")[0])
            else:
                self.note(text)
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                await self.send("500 5.5.1 Command unrecognized")
                continue
            if await handler(arg.strip()) is False:
                return
        await self.send("421 4.7.0 Too many commands")
        self.rec["closed_by"] = "server: too many commands"

    # ---- commands ----

    async def cmd_EHLO(self, arg):
        if not arg:
            await self.send("501 5.5.4 EHLO needs a domain")
            return
        self.ehlo = arg
        self.rec["ehlo"] = arg
        self.reset_tx()
        lines = [self.srv.name, "PIPELINING", "SIZE %d" % MAX_SIZE, "8BITMIME",
                 "ENHANCEDSTATUSCODES"]
        if self.role == "no8bitmime":
            lines.remove("8BITMIME")
        if self.offers_starttls():
            lines.append("STARTTLS")
        if self.offers_auth():
            lines.append("AUTH PLAIN LOGIN")
        out = ""
        for i, ln in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            out += "250%s%s\r\n" % (sep, ln)
        await self.send(out)

    async def cmd_HELO(self, arg):
        if not arg:
            await self.send("501 5.5.4 HELO needs a domain")
            return
        self.ehlo = arg
        self.rec["ehlo"] = arg
        self.reset_tx()
        await self.send("250 %s" % self.srv.name)

    async def cmd_NOOP(self, arg):
        await self.send("250 2.0.0 OK")

    async def cmd_RSET(self, arg):
        self.reset_tx()
        await self.send("250 2.0.0 OK")

    async def cmd_VRFY(self, arg):
        await self.send("252 2.5.2 Cannot VRFY user")

    async def cmd_HELP(self, arg):
        await self.send("214 2.0.0 scriptmx: see RFC 5321")

    async def cmd_QUIT(self, arg):
        self.rec["closed_by"] = "quit"
        self.finish()           # recorded before the client sees 221
        await self.send("221 2.0.0 Bye")
        return False

    async def cmd_STARTTLS(self, arg):
        if not self.offers_starttls():
            await self.send("502 5.5.1 STARTTLS not offered" if not self.tls
                            else "503 5.5.1 TLS already active")
            return
        if arg:
            await self.send("501 5.5.4 Syntax: STARTTLS")
            return
        if self.ehlo is None:
            await self.send("503 5.5.1 EHLO first")
            return
        if self.role == "starttls454":
            self.rec["starttls_reply"] = 454
            await self.send("454 4.7.0 TLS not available due to temporary reason")
            return
        if self.role == "brokenhandshake":
            await self.send("220 2.0.0 Ready to start TLS")
            self.rec["starttls"] = True
            try:
                hello = await asyncio.wait_for(self.reader.read(4096), 10)
            except (asyncio.TimeoutError, ConnectionError):
                hello = b""
            self.rec["client_hello_bytes"] = len(hello)
            # A TLS record header that announces a handshake, then nonsense.
            self.writer.write(b"\x16\x03\x03\x00\x40" + b"garbage, not TLS " * 2)
            await self.writer.drain()
            self.rec["tls_error"] = "server broke the handshake on purpose"
            self.rec["closed_by"] = "server: broken handshake"
            return False
        self.hold_plaintext()
        if self.role == "inject":
            # The reply and the injected bytes go out in one write, so they
            # arrive together: a client must not take the extra bytes for a
            # reply under TLS.
            self.writer.write(b"220 2.0.0 Ready to start TLS\r\n" + INJECTED)
            await self.writer.drain()
            self.rec["injected"] = len(INJECTED)
        else:
            await self.send("220 2.0.0 Ready to start TLS")
        if not await self.start_tls(self.srv.ctx):
            self.rec["closed_by"] = "tls-error"
            return False
        self.ehlo = None
        self.auth_user = None
        self.reset_tx()

    async def cmd_AUTH(self, arg):
        if not self.needs_auth():
            await self.send("502 5.5.1 AUTH not offered")
            return
        if not self.tls:
            await self.send("530 5.7.0 Must issue a STARTTLS command first")
            return
        if self.ehlo is None:
            await self.send("503 5.5.1 EHLO first")
            return
        if self.auth_user is not None:
            await self.send("503 5.5.1 Already authenticated")
            return
        if self.mail is not None:
            await self.send("503 5.5.1 AUTH not allowed during a transaction")
            return
        parts = arg.split()
        if not parts:
            await self.send("501 5.5.4 Syntax: AUTH mechanism")
            return
        mech = parts[0].upper()
        initial = parts[1] if len(parts) > 1 else None
        user = password = None
        try:
            if mech == "PLAIN":
                resp = initial
                if resp is None:
                    await self.send("334 ")
                    resp = await self.auth_line()
                if resp == "=":
                    resp = ""
                raw = base64.b64decode(resp, validate=True)
                f = raw.split(b"\0")
                if len(f) != 3:
                    raise ValueError("PLAIN needs three fields")
                user, password = f[1].decode(), f[2].decode()
            elif mech == "LOGIN":
                if initial is None:
                    await self.send("334 VXNlcm5hbWU6")
                    initial = await self.auth_line()
                user = base64.b64decode(initial, validate=True).decode()
                await self.send("334 UGFzc3dvcmQ6")
                password = base64.b64decode(await self.auth_line(),
                                            validate=True).decode()
            else:
                await self.send("504 5.5.4 Unrecognized authentication type")
                return
        except AuthCancel:
            await self.send("501 5.7.0 Authentication cancelled")
            return
        except (ValueError, binascii.Error, UnicodeDecodeError):
            await self.send("501 5.5.2 Cannot decode response")
            return
        self.rec.setdefault("auth_attempts", []).append(
            {"mech": mech, "user": user,
             "ok": (user, password) == (self.srv.auth_user,
                                        self.srv.auth_password)})
        if (user, password) == (self.srv.auth_user, self.srv.auth_password):
            self.auth_user = user
            self.rec["auth"] = user
            await self.send("235 2.7.0 Authentication successful")
        else:
            await self.send("535 5.7.8 Authentication credentials invalid")

    async def auth_line(self):
        line = await self.readline()
        if not line:
            raise Dropped("EOF during AUTH")
        s = line.decode("ascii", "replace").strip()
        if s == "*":
            raise AuthCancel()
        return s

    async def cmd_MAIL(self, arg):
        if self.ehlo is None:
            await self.send("503 5.5.1 Send EHLO/HELO first")
            return
        if self.mail is not None:
            await self.send("503 5.5.1 Nested MAIL command")
            return
        if self.mode == "submission" and not self.tls:
            await self.send("530 5.7.0 Must issue a STARTTLS command first")
            return
        if self.needs_auth() and self.auth_user is None:
            await self.send("530 5.7.0 Authentication required")
            return
        m = re.match(r"^FROM:\s*<([^>]*)>\s*(.*)$", arg, re.I)
        if not m:
            await self.send("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        sender, params = m.group(1), m.group(2)
        size = re.search(r"\bSIZE=(\d+)", params, re.I)
        self.tx = {"from": sender, "to": [], "tls": self.tls,
                   "tls_version": self.rec["tls_version"],
                   "auth": self.auth_user, "params": params,
                   "start": now(), "accepted": False, "size": None,
                   "file": None, "replies": {}}
        self.rec["transactions"].append(self.tx)
        if size and int(size.group(1)) > MAX_SIZE:
            await self.reply("MAIL", "552 5.3.4 Message size exceeds limit")
            self.tx = None
            return
        if self.role == "reject-mail-4xx":
            await self.reply("MAIL", "451 4.3.0 Temporary failure at MAIL (scripted)")
            self.tx = None
            return
        if self.role == "reject-mail-5xx":
            await self.reply("MAIL", "550 5.7.1 Sender rejected at MAIL (scripted)")
            self.tx = None
            return
        self.mail = sender
        self.mail_params = params
        await self.reply("MAIL", "250 2.1.0 Sender OK")

    async def reply(self, step, text):
        if self.tx is not None:
            self.tx["replies"].setdefault(step, []).append(text)
        await self.send(text)

    def tempfail_pending(self):
        """tempfail-once: true until one transaction has been turned away."""
        return not os.path.exists(self.srv.recorder.state_file("tempfail-once"))

    async def cmd_RCPT(self, arg):
        if self.mail is None:
            await self.send("503 5.5.1 Need MAIL before RCPT")
            return
        m = re.match(r"^TO:\s*<([^>]*)>\s*(.*)$", arg, re.I)
        if not m or not m.group(1):
            await self.reply("RCPT", "501 5.5.4 Syntax: RCPT TO:<address>")
            return
        rcpt = m.group(1)
        if len(self.rcpts) >= 1000:
            await self.reply("RCPT", "452 4.5.3 Too many recipients")
            return
        self.tx.setdefault("rcpt_tried", []).append(rcpt)
        if self.role == "reject-rcpt-4xx":
            await self.reply("RCPT", "450 4.2.0 Mailbox unavailable (scripted)")
            return
        if self.role == "reject-rcpt-5xx":
            await self.reply("RCPT", "550 5.1.1 No such user (scripted)")
            return
        if self.role == "tempfail-once":
            if not self.tx.get("tempfailed") and self.tempfail_pending():
                # This is the first transaction: from now on the state file
                # says it has been turned away, also across restarts.
                with open(self.srv.recorder.state_file("tempfail-once"),
                          "w") as f:
                    f.write("%f\n" % time.time())
                self.tx["tempfailed"] = True
            if self.tx.get("tempfailed"):
                await self.reply("RCPT", "451 4.7.1 Please try again later (tempfail-once)")
                return
        self.rcpts.append(rcpt)
        self.tx["to"].append(rcpt)
        await self.reply("RCPT", "250 2.1.5 Recipient OK")

    async def cmd_DATA(self, arg):
        if self.mail is None:
            await self.send("503 5.5.1 Need MAIL command")
            return
        if not self.rcpts:
            await self.reply("DATA", "554 5.5.1 No valid recipients")
            self.reset_tx()
            return
        if self.role == "reject-datacmd-4xx":
            await self.reply("DATA", "451 4.3.0 Temporary failure at DATA (scripted)")
            self.reset_tx()
            return
        if self.role == "reject-datacmd-5xx":
            await self.reply("DATA", "554 5.7.1 Transaction failed at DATA (scripted)")
            self.reset_tx()
            return
        if self.role == "slow":
            await asyncio.sleep(SLOW_DATA)
        await self.reply("DATA", "354 End data with <CR><LF>.<CR><LF>")
        body = bytearray()
        bare_lf = False
        too_big = False
        for _ in range(10 ** 7):
            line = await self.readline(DATA_TIMEOUT)
            if not line:
                self.tx["aborted"] = "EOF during DATA"
                raise Dropped("EOF during DATA")
            if line == b".\r\n" or line == b".\n":
                if line == b".\n":
                    bare_lf = True
                break
            if not line.endswith(b"\r\n"):
                bare_lf = True
            if line.startswith(b"."):
                line = line[1:]
            if len(body) + len(line) > MAX_SIZE:
                too_big = True
            else:
                body += line
        tx = self.tx
        tx["size"] = len(body)
        tx["bare_lf"] = bare_lf
        tx["end"] = now()
        if too_big:
            await self.reply("DATA", "552 5.3.4 Message size exceeds limit")
            self.reset_tx()
            return
        meta = {"conn": self.rec["id"], "peer": self.rec["peer"],
                "local": self.rec["local"], "port": self.rec["port"],
                "from": tx["from"], "to": list(tx["to"]), "tls": self.tls,
                "tls_version": self.rec["tls_version"], "sni": self.rec["sni"],
                "auth": self.auth_user, "size": len(body), "time": tx["end"],
                "role": self.role}
        if self.role == "drop":
            tx["file"] = self.srv.recorder.write_message(
                bytes(body), dict(meta, accepted=False, dropped=True))
            tx["dropped"] = True
            self.rec["closed_by"] = "drop"
            raise Dropped("dropped after the final dot")
        if self.role == "reject-data-4xx":
            await self.reply("DATA", "451 4.3.0 Temporary failure after DATA (scripted)")
            self.reset_tx()
            return
        if self.role == "reject-data-5xx":
            await self.reply("DATA", "554 5.7.1 Message rejected after DATA (scripted)")
            self.reset_tx()
            return
        tx["accepted"] = True
        tx["file"] = self.srv.recorder.write_message(
            bytes(body), dict(meta, accepted=True))
        await self.reply("DATA", "250 2.0.0 Ok: queued as %s" % tx["file"])
        tx["replied"] = now()
        self.reset_tx()


class AuthCancel(Exception):
    pass


class Server:
    def __init__(self, args):
        self.role = args.role
        self.name = args.name
        self.recorder = Recorder(args.record)
        self.auth_user = args.auth_user
        self.auth_password = args.auth_password
        self.live = set()
        self.ctx = self.make_ctx(args.cert, args.key, args.role == "tls11")

    @staticmethod
    def make_ctx(cert, key, tls11):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if tls11:
            # OpenSSL 3 refuses TLS 1.1 at security level 1 and above.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2

        def sni(obj, server_name, _ctx):
            try:
                obj.sni_name = server_name
            except AttributeError:
                pass
            return None
        ctx.sni_callback = sni
        return ctx

    async def handle(self, reader, writer, mode):
        s = Session(self, reader, writer, mode)
        self.live.add(s)
        await s.run()

    async def accept_tls(self, lsock, mode):
        """Accepts on an implicit-TLS socket (465).  The handshake runs
        before any byte is read as SMTP; a failed one is recorded too."""
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(lsock)
            loop.create_task(self.tls_conn(conn, mode))

    async def tls_conn(self, conn, mode):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE)
        proto = asyncio.StreamReaderProtocol(reader)
        try:
            peer, local = conn.getpeername(), conn.getsockname()
        except OSError:
            conn.close()
            return
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: proto, conn, ssl=self.ctx,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, OSError, asyncio.TimeoutError,
                ConnectionError) as e:
            conn.close()
            t = now()
            self.recorder.write_connection({
                "id": self.recorder.conn_id(), "role": self.role,
                "mode": mode, "peer": peer[0], "peer_port": peer[1],
                "local": local[0], "port": local[1], "start": t, "end": t,
                "starttls": False, "tls": False, "tls_version": None,
                "tls_cipher": None, "sni": None,
                "tls_error": "%s: %s" % (type(e).__name__, e),
                "transactions": [], "commands": [], "ehlo": None,
                "auth": None, "closed_by": "tls-error"})
            return
        writer = asyncio.StreamWriter(transport, proto, reader, loop)
        await self.handle(reader, writer, mode)

    def flush(self):
        for s in list(self.live):
            s.rec["closed_by"] = s.rec["closed_by"] or "server stopped"
            s.finish()


def parse_listen(spec):
    # ADDR:PORT[:MODE]; an IPv6 address in brackets: [fd00::3]:25:smtp
    m = re.match(r"^\[([^\]]+)\]:(\d+)(?::(\w+))?$", spec) or \
        re.match(r"^([^:]+):(\d+)(?::(\w+))?$", spec)
    if not m:
        raise SystemExit("scriptmx: bad --listen %r" % spec)
    mode = m.group(3) or "smtp"
    if mode not in ("smtp", "submission", "smtps"):
        raise SystemExit("scriptmx: bad mode %r" % mode)
    return m.group(1), int(m.group(2)), mode


async def main_async(args):
    srv = Server(args)
    servers = []
    tasks = []
    socks = []
    for spec in args.listen:
        addr, port, mode = parse_listen(spec)
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((addr, port))
        sock.listen(128)
        sock.setblocking(False)
        if mode == "smtps":
            tasks.append(asyncio.get_running_loop().create_task(
                srv.accept_tls(sock, mode)))
            socks.append(sock)
            continue

        def cb(r, w, mode=mode):
            return srv.handle(r, w, mode)
        servers.append(await asyncio.start_server(cb, sock=sock, limit=MAX_LINE))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.ready + ".tmp", args.ready)
    await stop.wait()
    for s in servers:
        s.close()
    for t in tasks:
        t.cancel()
    for s in socks:
        s.close()
    srv.flush()


def main():
    ap = argparse.ArgumentParser(description="scripted SMTP server for tests")
    ap.add_argument("--role", required=True, choices=ROLES)
    ap.add_argument("--name", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--listen", action="append", required=True)
    ap.add_argument("--auth-user", default="relayuser")
    ap.add_argument("--auth-password", default="relay-Secret-7")
    ap.add_argument("--ready", help="file written once every socket listens")
    args = ap.parse_args()
    # asyncio's warnings about clients that vanish mid-TLS are expected here.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
