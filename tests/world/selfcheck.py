#!/usr/bin/env python3
"""selfcheck.py STATEDIR - checks that a running world is what its scenario says.

Run inside the world's namespace (tests/world/world exec python3 ...).
It asks the real servers with the real tools:
  - DNS: dig at the world's resolver (and at dnsmasq and the stub): every
    record with its status, each stub failure mode as it reaches a client
    through dnsmasq and as the stub itself sends it;
  - HTTPS: curl with the world's CA at every address of every policy host:
    status, media type, body, chunking, redirects; the bad certificates
    fail with curl and with openssl s_client -verify_return_error, for the
    right reason; the good ones pass;
  - MXs: tests/world/mx/mx-check at every address: EHLO answered, STARTTLS
    shown or withheld as the role says; openssl s_client -starttls smtp
    for the roles whose certificate is the point.
Prints "ok - ..." or "not ok - ...: expected X, got Y" per check and a
closing count; exit 0 if all passed, 1 otherwise.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = {"ok": 0, "fail": 0}

# How each MX role answers EHLO on port 25: STARTTLS shown, withheld, or
# no EHLO at all.
# (tests/world/mx/README: this OpenSMTPD build cannot do server TLS with
# OpenSSL 3, so role opensmtpd offers none; opensmtpd-tls offers it and
# fails the handshake.)
ROLE_EHLO = {"nostarttls": "withheld", "opensmtpd": "withheld", "drop-greeting": "none"}
# Roles whose certificate is checked with openssl s_client -starttls smtp:
# the verify result expected (0 = verifies for the MX's name).
ROLE_CERT = {"valid": "0", "postfix": "0", "submission": "0",
             "wrongname": "62", "expired": "10", "cnonly": "cnonly",
             "selfsigned": "18"}
# What openssl reports for a policy host's certificate variant.
CERT_VERIFY = {"valid": "0", "wildcard": "0", "shared": "0", "wrongname": "62",
               "expired": "10", "notyetvalid": "9", "selfsigned": "18", "cnonly": "cnonly"}


def result(ok, what, expected="", got=""):
    if ok:
        RESULTS["ok"] += 1
        print("ok - %s" % what)
    else:
        RESULTS["fail"] += 1
        print("not ok - %s: expected %s, got %s" % (what, expected, got))
    sys.stdout.flush()
    return ok


def run(argv, timeout=30, data=None):
    try:
        p = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return -1, "", "timed out after %ss" % timeout
    except OSError as e:
        return -2, "", str(e)


# ---------------------------------------------------------------- DNS

def dig(server, name, typ, *opts, timeout=2):
    """(status, answers of TYPE at NAME, flags, raw output, exit code)."""
    argv = ["dig", "@" + server, "+time=%d" % timeout, "+tries=1", "+noall",
            "+comments", "+answer"] + list(opts) + [name, typ]
    rc, out, err = run(argv, timeout=timeout * 4 + 5)
    out += err
    m = re.search(r"status: ([A-Z]+)", out)
    status = m.group(1) if m else ("TIMEOUT" if "timed out" in out or
                                   "no servers could be reached" in out else "NONE")
    fm = re.search(r";; flags: ([a-z ]*);", out)
    flags = fm.group(1).split() if fm else []
    answers = []
    for ln in out.splitlines():
        if not ln or ln.startswith(";"):
            continue
        f = ln.split(None, 4)
        if len(f) == 5 and f[0].rstrip(".").lower() == name.lower() and f[3] == typ:
            answers.append(f[4].strip())
    return status, sorted(answers), flags, out, rc


def check_dns(plan):
    servers = [plan["resolver"]]
    if plan["dns_addr"] not in servers:
        servers.append(plan["dns_addr"])
    for srv in servers:
        for r in plan["dns"]:
            status, answers, _, _, _ = dig(srv, r["name"], r["type"])
            what = "DNS @%s %s %s" % (srv, r["name"], r["type"])
            result(status == r["status"] and answers == r["answers"], what,
                   "%s %s" % (r["status"], r["answers"]), "%s %s" % (status, answers))
    # The resolver the world's /etc/resolv.conf names.
    try:
        with open("/etc/resolv.conf") as f:
            rc = f.read()
    except OSError as e:
        rc = str(e)
    result(re.search(r"^nameserver %s$" % re.escape(plan["resolver"]), rc, re.M) is not None,
           "/etc/resolv.conf in the namespace names %s" % plan["resolver"],
           "nameserver " + plan["resolver"], rc.strip().replace("\n", " | "))
    for s in plan["stub"]:
        check_stub(plan, s)


def txt_len(answers):
    """Bytes of text in a TXT answer as dig prints it."""
    total = 0
    for a in answers:
        for piece in re.findall(r'"((?:[^"\\]|\\.)*)"', a):
            total += len(re.sub(r"\\(.)", r"\1", piece))
    return total


def check_stub(plan, s):
    name, mode, args = s["name"], s["mode"], s["args"]
    dns, stub = plan["dns_addr"], plan["stub_addr"]
    typ = "TXT" if mode in ("bigtxt",) or (args and args[0].upper() == "TXT") else "A"
    if args and args[0].upper() in ("A", "AAAA"):
        typ = args[0].upper()
    via = "DNS @%s %s %s (stub %s)" % (dns, name, typ, mode)
    direct = "stub @%s %s %s (%s)" % (stub, name, typ, mode)
    # What a client of dnsmasq sees.
    status, answers, flags, out, _ = dig(dns, name, typ)
    if mode in ("servfail", "refused", "nxdomain"):
        result(status == mode.upper(), via, mode.upper(), status)
    elif mode in ("timeout", "wrongid"):
        result(status == "TIMEOUT", via, "no answer (time-out)", status)
    elif mode == "comploop":
        result(status == "SERVFAIL", via, "SERVFAIL (dnsmasq refuses the loop)", status)
    elif mode == "truncated":
        want = ['"%s"' % " ".join(args[1:])] if args else []
        result(status == "NOERROR" and answers == want and "tc" not in flags, via,
               "NOERROR %s (dnsmasq retried over TCP)" % want, "%s %s %s" % (status, flags, answers))
    elif mode == "bigtxt":
        size = int(args[0]) if args else 4096
        result(status == "NOERROR" and txt_len(answers) == size, via,
               "one TXT record of %d bytes" % size, "%s, %d bytes" % (status, txt_len(answers)))
    # What the stub itself sends.
    status, answers, flags, out, _ = dig(stub, name, typ, "+ignore", "+norec", "+bufsize=1232")
    if mode in ("servfail", "refused", "nxdomain"):
        result(status == mode.upper(), direct, mode.upper(), status)
    elif mode == "timeout":
        result(status == "TIMEOUT", direct, "no answer", status)
    elif mode == "wrongid":
        result(status == "TIMEOUT" and "ID mismatch" in out, direct,
               "an answer with another ID, then nothing", "%s: %s" % (status, out.strip()[:200]))
    elif mode == "comploop":
        bad = re.search(r"bad compression|malformed|FORMERR|Got bad packet", out, re.I)
        result(bad is not None, direct, "a packet dig cannot parse (compression loop)",
               out.strip()[:200])
    elif mode in ("truncated", "bigtxt"):
        result(status == "NOERROR" and "tc" in flags and not answers, direct + " over UDP",
               "the TC bit and no records", "%s %s %s" % (status, flags, answers))
        status, answers, flags, out, _ = dig(stub, name, typ, "+tcp", "+norec")
        if mode == "bigtxt":
            size = int(args[0]) if args else 4096
            ok = status == "NOERROR" and txt_len(answers) == size and len(answers) == 1
            want = "one TXT record of %d bytes" % size
            got = "%s, %d record(s), %d bytes" % (status, len(answers), txt_len(answers))
        else:
            want_a = ['"%s"' % " ".join(args[1:])] if args else []
            ok = status == "NOERROR" and answers == want_a
            want, got = "NOERROR %s" % want_a, "%s %s" % (status, answers)
        result(ok, direct + " over TCP", want, got)


# ---------------------------------------------------------------- HTTPS

def curl(url, host, addr, ca, *opts, max_time=10):
    """(exit, status, headers dict (lower-case), body bytes, stderr)."""
    res = "%s:443:%s" % (host, ("[%s]" % addr) if ":" in addr else addr)
    fd, hdr = tempfile.mkstemp(prefix="selfcheck-hdr-")
    os.close(fd)
    fd, body = tempfile.mkstemp(prefix="selfcheck-body-")
    os.close(fd)
    argv = ["curl", "-sS", "--http1.1", "--max-time", str(max_time), "--cacert", ca,
            "--resolve", res, "-D", hdr, "-o", body, "-w", "%{http_code}"] + \
        list(opts) + [url]
    rc, out, err = run(argv, timeout=max_time + 10)
    headers, data = {}, b""
    try:
        with open(hdr, encoding="latin-1", newline="") as f:
            for ln in f.read().splitlines():
                k, sep, v = ln.partition(":")
                if sep:
                    headers.setdefault(k.strip().lower(), v.strip())
        with open(body, "rb") as f:
            data = f.read()
    except OSError:
        pass
    for p in (hdr, body):
        try:
            os.unlink(p)
        except OSError:
            pass
    return rc, out.strip(), headers, data, err.strip()


def s_client(addr, port, host, ca, starttls=False):
    """The verify return code openssl reports, the served certificate, rc."""
    argv = ["openssl", "s_client", "-connect",
            "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port),
            "-servername", host, "-verify_hostname", host, "-verify_return_error",
            "-CAfile", ca, "-showcerts"]
    if starttls:
        argv += ["-starttls", "smtp", "-name", "selfcheck.test"]
    rc, out, err = run(argv, timeout=20, data=b"")
    m = re.search(r"Verify return code: (\d+)", out + err)
    code = m.group(1) if m else None
    if code is None:
        m = re.search(r"verify error:num=(\d+)", out + err)
        code = m.group(1) if m else "none"
    cm = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    return code, cm.group(0) if cm else "", rc


def has_san(pem):
    rc, out, err = run(["openssl", "x509", "-noout", "-ext", "subjectAltName"],
                       data=pem.encode())
    return "Alternative Name" in out


def check_cert(kind, addr, port, host, ca, want, starttls=False):
    code, pem, rc = s_client(addr, port, host, ca, starttls)
    what = "%s %s at %s:%d: s_client -verify_return_error" % (kind, host, addr, port)
    if want == "cnonly":
        # openssl falls back to the CN; what matters is that there is no SAN.
        result(bool(pem) and not has_san(pem), what + " (certificate without subjectAltName)",
               "a certificate with no subjectAltName", "SAN present" if pem else "no certificate")
    elif want == "0":
        result(rc == 0 and code == "0", what + " passes", "exit 0, verify 0",
               "exit %s, verify %s" % (rc, code))
    else:
        result(rc != 0 and code == want, what + " fails (verify error %s)" % want,
               "exit != 0, verify %s" % want,
               "exit %s, verify %s" % (rc, code))


def count_requests(state, host, uri):
    try:
        with open(os.path.join(state, "http", "access.log")) as f:
            return sum(1 for ln in f if ln.split()[:1] == [host] and " %s " % uri in ln)
    except OSError:
        return 0


def check_policies(plan, state, ca):
    for p in plan["policies"]:
        host, url = p["host"], p["url"]
        body = b""
        if p["body_file"]:
            with open(p["body_file"], "rb") as f:
                body = f.read()
        good_cert = p["cert"] in ("valid", "wildcard", "shared")
        for addr in p["addrs"]:
            check_cert("policy host", addr, 443, host, ca, CERT_VERIFY[p["cert"]])
            what = "GET %s at %s" % (url, addr)
            if not good_cert and p["cert"] != "cnonly":
                rc, code, hd, data, err = curl(url, host, addr, ca)
                result(rc == 60, what + " fails certificate verification",
                       "curl exit 60", "exit %s (%s)" % (rc, err[:120]))
                insecure = ("-k",)
            else:
                insecure = ()
            if p["slow"]:
                t0 = time.monotonic()
                rc, code, hd, data, err = curl(url, host, addr, ca, *insecure, max_time=3)
                took = time.monotonic() - t0
                result(rc == 28 and len(data) < len(body) and took >= 2.5,
                       what + " is slow (not complete within curl's 3 s limit)",
                       "curl exit 28 after 3 s with less than the whole body",
                       "exit %s, status %s, %d of %d bytes in %.1fs" %
                       (rc, code, len(data), len(body), took))
                continue
            rc, code, hd, data, err = curl(url, host, addr, ca, *insecure)
            result(rc == 0 and code == str(p["status"]), what + " status",
                   "status %d" % p["status"], "exit %s status %s %s" % (rc, code, err[:120]))
            ctype = hd.get("content-type")
            if p["status"] == 200:
                want = None if p["type"] == "none" else p["type"]
                result(ctype == want, what + " Content-Type", want, ctype)
                result(data == body, what + " body",
                       "%d bytes as in %s" % (len(body), p["body_file"]),
                       "%d bytes%s" % (len(data), "" if data == body else " that differ"))
                if p["chunked"]:
                    result(hd.get("transfer-encoding") == "chunked" and
                           "content-length" not in hd, what + " is chunked",
                           "Transfer-Encoding: chunked, no Content-Length",
                           "TE %s, CL %s" % (hd.get("transfer-encoding"),
                                             hd.get("content-length")))
                else:
                    result(hd.get("content-length") == str(len(body)),
                           what + " Content-Length", str(len(body)), hd.get("content-length"))
            elif p["redirect"]:
                result(hd.get("location") == p["redirect"], what + " Location",
                       p["redirect"], hd.get("location"))
                before = count_requests(state, host, "/moved/mta-sts.txt")
                rc, code, hd, data, err = curl(p["moved_url"], host, addr, ca, *insecure)
                result(rc == 0 and code == "200" and data == body,
                       "GET %s at %s (the redirect target) serves the policy" %
                       (p["moved_url"], addr), "200 and %d bytes" % len(body),
                       "exit %s status %s, %d bytes" % (rc, code, len(data)))
                wait_count(state, host, "/moved/mta-sts.txt", before + 1)
            elif body:
                result(data == body, what + " body (of the %d answer)" % p["status"],
                       "%d bytes" % len(body), "%d bytes" % len(data))
        if good_cert and p["dns"] and not p["slow"]:
            # Through the world's DNS (no --resolve): what a sender does.
            rc, out, err = run(["curl", "-sS", "--max-time", "10", "--cacert", ca,
                                "-o", "/dev/null", "-w", "%{http_code} %{remote_ip}", url])
            result(rc == 0 and out.split()[:1] == [str(p["status"])] and
                   out.split()[1:] and out.split()[1] in p["addrs"],
                   "GET %s through the world's DNS" % url,
                   "status %d from one of %s" % (p["status"], p["addrs"]),
                   "exit %s: %s %s" % (rc, out, err[:120]))


def wait_count(state, host, uri, n, secs=5):
    deadline = time.monotonic() + secs
    got = count_requests(state, host, uri)
    while got < n and time.monotonic() < deadline:
        time.sleep(0.05)
        got = count_requests(state, host, uri)
    return result(got >= n, "access log counts the request for %s%s" % (host, uri),
                  ">= %d" % n, got)


# ---------------------------------------------------------------- MXs

def check_mxs(plan, ca):
    check = os.path.join(os.environ.get("WORLD_MX_DIR", os.path.join(HERE, "mx")), "mx-check")
    for m in plan["mxhosts"]:
        ports = [(25, [])]
        if m["role"] == "submission":
            ports += [(587, []), (465, ["--tls"])]
        expect = ROLE_EHLO.get(m["role"], "shown")
        for addr in m["addrs"]:
            for port, opts in ports:
                rc, out, err = run([check, addr, str(port)] + opts, timeout=30)
                words = out.split()
                what = "MX %s (%s) at %s:%d EHLO" % (m["host"], m["role"], addr, port)
                if expect == "none":
                    result(rc != 0, what + " gets no answer (connection dropped)",
                           "mx-check fails", "exit %s, %s" % (rc, words))
                elif port == 465:
                    result(rc == 0 and words, what + " over TLS", "an EHLO answer",
                           "exit %s %s" % (rc, (out + err).strip()[:160]))
                elif expect == "withheld" or (m["role"] == "submission" and port == 587):
                    want = expect != "withheld"
                    result(rc == 0 and ("STARTTLS" in words) == want,
                           what + (" shows STARTTLS" if want else " withholds STARTTLS"),
                           "STARTTLS %s" % ("shown" if want else "withheld"),
                           "exit %s, keywords %s" % (rc, words or err.strip()[:160]))
                else:
                    result(rc == 0 and "STARTTLS" in words, what + " shows STARTTLS",
                           "STARTTLS shown", "exit %s, keywords %s" % (rc, words or err.strip()[:160]))
            if m["role"] in ROLE_CERT:
                check_cert("MX", addr, 25, m["host"], ca, ROLE_CERT[m["role"]], starttls=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: selfcheck.py STATEDIR")
    state = sys.argv[1]
    with open(os.path.join(state, "plan.json")) as f:
        plan = json.load(f)
    ca = os.path.join(state, "pki", "ca.pem")
    only = os.environ.get("SELFCHECK_ONLY", "dns,https,mx").split(",")
    if "dns" in only:
        check_dns(plan)
    if "https" in only:
        check_policies(plan, state, ca)
    if "mx" in only:
        check_mxs(plan, ca)
    print("%s: %d checks passed, %d failed" % (plan["scenario"], RESULTS["ok"], RESULTS["fail"]))
    sys.exit(1 if RESULTS["fail"] else 0)


if __name__ == "__main__":
    main()
