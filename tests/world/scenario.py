#!/usr/bin/env python3
"""scenario.py - reads a test-world scenario and writes what the world runs.

  scenario.py check SCENARIO.scn
      parses the file and reports the first error with its line number
  scenario.py build SCENARIO.scn STATEDIR
      writes into STATEDIR:
        plan.json            everything the scenario says, normalised (the
                             self-test and tests/world/lib.sh read it)
        plan.sh              shell assignments for tests/world/world
        certs.tsv            HOST VARIANT FILEBASE DOMAIN, one policy host a line
        mxhosts.tsv          HOST ROLE ADDR[,ADDR...]
        dns/dnsmasq.conf     dnsmasq's configuration
        dns/stub.conf        the DNS stub's names
        http/nginx.conf      nginx's configuration
        http/www/HOST/...    the policy bodies

The format is described in tests/world/README.  Only the standard library
is used.
"""

import ipaddress
import json
import os
import re
import shlex
import sys

DNS_ADDR = "127.0.0.53"
STUB_ADDR = "127.0.0.54"
WELL_KNOWN = "/.well-known/mta-sts.txt"
MOVED = "/moved/mta-sts.txt"
CERT_VARIANTS = ("valid", "wrongname", "expired", "notyetvalid", "cnonly",
                 "selfsigned", "wildcard", "shared")
# cert=shared: one leaf for all such policy hosts, its SANs their names.
SHARED_CERT = "policy-hosts-shared"
STUB_MODES = ("servfail", "refused", "nxdomain", "timeout", "truncated",
              "wrongid", "comploop", "bigtxt", "answer")
HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)"
                     r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")
HERE = os.path.dirname(os.path.abspath(__file__))


class ScnError(Exception):
    pass


def host(name, what="a host name"):
    n = name.lower().rstrip(".")
    if not HOST_RE.match(n):
        raise ScnError("%r is not %s" % (name, what))
    return n


def address(a, want=None):
    """An address of the world: 127.0.0.0/8 or fd00::/8, nothing else."""
    try:
        ip = ipaddress.ip_address(a.strip("[]"))
    except ValueError:
        raise ScnError("%r is not an IP address" % a)
    if want and ip.version != want:
        raise ScnError("%s is not an IPv%d address" % (a, want))
    if ip.version == 4 and ip not in ipaddress.ip_network("127.0.0.0/8"):
        raise ScnError("%s is outside 127.0.0.0/8: a world has only loopback addresses" % a)
    if ip.version == 6 and ip not in ipaddress.ip_network("fd00::/8"):
        raise ScnError("%s is outside fd00::/8: a world has only its own IPv6 addresses" % a)
    return ip.compressed


def server_address(a):
    ip = address(a)
    if ip.startswith("127.0.0."):
        raise ScnError("%s is in 127.0.0.0/24, which the world keeps for itself "
                       "(strictmail at .1, DNS at .53, the stub at .54)" % a)
    return ip


def addresses(field):
    out = [server_address(a) for a in field.split(",") if a]
    if not out:
        raise ScnError("no address")
    return out


def txt_strings(rest):
    """The quoted strings of a txt line: "a" "b c" with \\" and \\\\."""
    out, i, n = [], 0, len(rest)
    while i < n:
        if rest[i].isspace():
            i += 1
            continue
        if rest[i] != '"':
            raise ScnError('a TXT string must be in double quotes: %s' % rest[i:])
        i += 1
        s = bytearray()
        while True:
            if i >= n:
                raise ScnError("a TXT string has no closing quote")
            c = rest[i]
            if c == "\\" and i + 1 < n:
                s += rest[i + 1].encode()
                i += 2
                continue
            if c == '"':
                i += 1
                break
            s += c.encode()
            i += 1
        if len(s) > 255:
            raise ScnError("a TXT string is longer than 255 bytes (use the stub's bigtxt)")
        out.append(s.decode())
    if not out:
        raise ScnError("a txt line needs at least one string")
    return out


def new_policy(domain):
    return {"domain": domain, "host": "mta-sts." + domain, "addrs": [],
            "cert": "valid", "file": None, "inline": None, "eol": "crlf",
            "status": 200, "type": "text/plain", "redirect": None,
            "chunked": False, "pad": 0, "slow": 0, "dns": True, "line": 0}


def parse(path):
    scn = {"name": os.path.basename(path).rsplit(".", 1)[0], "describe": "",
           "domains": [], "ttl": 60, "resolver": "dnsmasq", "mx": [],
           "a": {}, "aaaa": {}, "txt": [], "cname": [], "stub": [],
           "policies": {}, "mxhosts": []}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    bodies = {}
    i = 0
    while i < len(lines):
        lineno, raw = i + 1, lines[i].rstrip("\r")
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kw, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if kw == "body":
                d = host(rest, "a domain")
                body = []
                while True:
                    if i >= len(lines):
                        raise ScnError("body %s: no line 'end'" % d)
                    ln = lines[i].rstrip("\r")
                    i += 1
                    if ln.strip() == "end":
                        break
                    body.append(ln)
                if d in bodies:
                    raise ScnError("a second body for %s" % d)
                bodies[d] = (body, lineno)
                continue
            if kw == "txt":
                name, _, strs = rest.partition(" ")
                scn["txt"].append((host(name), txt_strings(strs.strip())))
                continue
            w = rest.split()
            parse_line(scn, kw, w, rest)
        except ScnError as e:
            raise ScnError("%s:%d: %s" % (path, lineno, e))
    for d, (body, lineno) in bodies.items():
        if d not in scn["policies"]:
            raise ScnError("%s:%d: body for %s, which has no policy line" % (path, lineno, d))
        scn["policies"][d]["inline"] = body
    for p in scn["policies"].values():
        if p["inline"] is not None and p["file"]:
            raise ScnError("%s:%d: policy %s has both file= and a body block"
                           % (path, p["line"], p["domain"]))
    check(scn, path)
    return scn


def parse_line(scn, kw, w, rest):
    if kw == "describe":
        scn["describe"] = rest
    elif kw == "domain":
        if not w:
            raise ScnError("domain needs a name")
        scn["domains"] += [host(d, "a domain") for d in w]
    elif kw == "ttl":
        if len(w) != 1 or not w[0].isdigit():
            raise ScnError("ttl SECONDS")
        scn["ttl"] = int(w[0])
    elif kw == "resolver":
        if w not in (["dnsmasq"], ["stub"]):
            raise ScnError("resolver dnsmasq|stub")
        scn["resolver"] = w[0]
    elif kw == "mx":
        if len(w) != 3 or not w[1].isdigit() or int(w[1]) > 65535:
            raise ScnError("mx DOMAIN PREFERENCE HOST")
        target = "." if w[2] == "." else host(w[2])
        scn["mx"].append((host(w[0], "a domain"), int(w[1]), target))
    elif kw in ("a", "aaaa"):
        if len(w) < 2:
            raise ScnError("%s NAME ADDR [ADDR...]" % kw)
        lst = scn[kw].setdefault(host(w[0]), [])
        for a in w[1:]:
            a = address(a, 4 if kw == "a" else 6)
            if a not in lst:
                lst.append(a)
    elif kw == "cname":
        if len(w) != 2:
            raise ScnError("cname NAME TARGET")
        scn["cname"].append((host(w[0]), host(w[1])))
    elif kw in ("stub", "timeout"):
        if kw == "timeout":
            if len(w) != 1:
                raise ScnError("timeout NAME")
            w = [w[0], "timeout"]
        if len(w) < 2 or w[1] not in STUB_MODES:
            raise ScnError("stub NAME MODE [ARG...], MODE one of " + " ".join(STUB_MODES))
        ent = {"name": host(w[0]), "mode": w[1], "args": w[2:]}
        if w[1] in ("truncated", "answer") and w[2:]:
            if len(w) < 4 or w[2].upper() not in ("A", "AAAA", "TXT"):
                raise ScnError("stub NAME %s [A ADDR | AAAA ADDR | TXT TEXT]" % w[1])
            if w[2].upper() in ("A", "AAAA"):
                address(w[3], 4 if w[2].upper() == "A" else 6)
        if w[1] == "bigtxt" and w[2:] and not w[2].isdigit():
            raise ScnError("stub NAME bigtxt [SIZE [PREFIX...]]")
        scn["stub"].append(ent)
    elif kw == "policy":
        parse_policy(scn, w)
    elif kw == "mxhost":
        if len(w) not in (3, 4) or (len(w) == 4 and w[3] != "nodns"):
            raise ScnError("mxhost HOST ROLE ADDR[,ADDR...] [nodns]")
        if not re.match(r"^[a-z0-9-]+$", w[1]):
            raise ScnError("bad role %r" % w[1])
        scn["mxhosts"].append({"host": host(w[0]), "role": w[1],
                               "addrs": addresses(w[2]), "dns": len(w) == 3})
    else:
        raise ScnError("unknown keyword %r" % kw)


def parse_policy(scn, w):
    if len(w) < 2:
        raise ScnError("policy DOMAIN ADDR[,ADDR...] [option...]")
    d = host(w[0], "a domain")
    if d in scn["policies"]:
        raise ScnError("a second policy line for %s" % d)
    p = new_policy(d)
    p["addrs"] = addresses(w[1])
    for opt in w[2:]:
        k, eq, v = opt.partition("=")
        if k == "cert" and v in CERT_VARIANTS:
            p["cert"] = v
        elif k == "file" and v and "/" not in v:
            if not os.path.isfile(os.path.join(HERE, "policies", v)):
                raise ScnError("no policy file tests/world/policies/%s" % v)
            p["file"] = v
        elif k == "status" and re.match(r"^[1-5][0-9][0-9]$", v):
            p["status"] = int(v)
        elif k == "type" and v and re.match(r"^[!-~]+$", v) and '"' not in v:
            p["type"] = v
        elif k == "redirect":
            url = v or "https://%s%s" % (p["host"], MOVED)
            if not re.match(r"^https?://[!-~]+$", url) or '"' in url:
                raise ScnError("bad redirect URL %r" % url)
            p["redirect"] = url
        elif k == "chunked" and not eq:
            p["chunked"] = True
        elif k == "pad" and v.isdigit():
            p["pad"] = int(v)
        elif k == "slow" and v.isdigit() and int(v) > 0:
            p["slow"] = int(v)
        elif k == "eol" and v in ("crlf", "lf"):
            p["eol"] = v
        elif k == "nodns" and not eq:
            p["dns"] = False
        else:
            raise ScnError("bad policy option %r" % opt)
    scn["policies"][d] = p


def in_domains(scn, name):
    return any(name == d or name.endswith("." + d) for d in scn["domains"])


def check(scn, path):
    if not scn["domains"]:
        raise ScnError("%s: no domain line" % path)
    names = [m[0] for m in scn["mx"]] + list(scn["a"]) + list(scn["aaaa"]) + \
        [t[0] for t in scn["txt"]] + [c[0] for c in scn["cname"]] + \
        [s["name"] for s in scn["stub"]] + \
        [p["host"] for p in scn["policies"].values() if p["dns"]] + \
        [m["host"] for m in scn["mxhosts"] if m["dns"]]
    for n in names:
        if not in_domains(scn, n):
            raise ScnError("%s: %s is outside the domains of the scenario (%s)"
                           % (path, n, " ".join(scn["domains"])))
    stubs = [s["name"] for s in scn["stub"]]
    if len(set(stubs)) != len(stubs):
        raise ScnError("%s: a name is given to the stub twice" % path)
    for n in names:
        if n not in stubs and any(n == s or n.endswith("." + s) for s in stubs):
            raise ScnError("%s: %s is answered by the stub (%s), so it cannot have records"
                           % (path, n, n))
    cn = [c[0] for c in scn["cname"]]
    if len(set(cn)) != len(cn):
        raise ScnError("%s: a name has two CNAME records" % path)
    others = [n for n in names if n not in cn] + \
        [n for n in cn if names.count(n) > cn.count(n)]
    for n in cn:
        if n in others:
            raise ScnError("%s: %s has a CNAME and other records" % (path, n))
    seen = {}
    for m in scn["mxhosts"]:
        for a in m["addrs"]:
            if a in seen:
                raise ScnError("%s: %s is the address of both %s and %s (port 25)"
                               % (path, a, seen[a], m["host"]))
            seen[a] = m["host"]
    for p in scn["policies"].values():
        if p["status"] == 200 and not p["redirect"] and p["inline"] is None \
                and not p["file"]:
            raise ScnError("%s: policy %s answers 200 but has no body (a body block or file=)"
                           % (path, p["domain"]))


# ---------------------------------------------------------------- output

def dig_txt(strings):
    """What dig +short prints for one TXT record."""
    return " ".join('"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
                    for s in strings)


def host_addrs(scn):
    """Every A and AAAA the DNS answers: records, then hosts' own."""
    a = {k: list(v) for k, v in scn["a"].items()}
    aaaa = {k: list(v) for k, v in scn["aaaa"].items()}
    hosts = [(p["host"], p["addrs"]) for p in scn["policies"].values() if p["dns"]]
    hosts += [(m["host"], m["addrs"]) for m in scn["mxhosts"] if m["dns"]]
    for h, addrs in hosts:
        for ad in addrs:
            tab = aaaa if ":" in ad else a
            lst = tab.setdefault(h, [])
            if ad not in lst:
                lst.append(ad)
    return a, aaaa


def body_bytes(p):
    if p["file"]:
        with open(os.path.join(HERE, "policies", p["file"]), "rb") as f:
            data = f.read()
    elif p["inline"] is not None:
        eol = "\r\n" if p["eol"] == "crlf" else "\n"
        data = "".join(ln + eol for ln in p["inline"]).encode()
    else:
        data = b""
    if p["pad"] > len(data):
        # Unknown keys, which a policy parser ignores: a reader that cut
        # the body short would still find a complete policy first.
        eol = b"\r\n" if p["eol"] == "crlf" else b"\n"
        i = 0
        while len(data) < p["pad"]:
            data += b"x-padding-%06d: %s" % (i, b"p" * 100) + eol
            i += 1
        data = data[:p["pad"]]
    return data


def q(s):
    """A string for nginx's configuration."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def nginx_conf(scn, state):
    h = os.path.join(state, "http")
    out = ["# generated by tests/world/scenario.py from %s.scn" % scn["name"],
           "daemon off;", "master_process on;", "worker_processes 1;",
           "user root;", "pid %s/nginx.pid;" % h,
           "error_log %s/error.log info;" % h,
           "events { worker_connections 256; }", "http {",
           "    log_format world '$server_name $remote_addr $status $request_method $uri "
           "$body_bytes_sent \"$sent_http_content_type\" $msec';",
           "    access_log %s/access.log world;" % h,
           "    server_tokens off;", "    sendfile off;", "    gzip off;",
           "    keepalive_timeout 5s;",
           "    ssl_protocols TLSv1.2 TLSv1.3;"]
    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        out.append("    %s_temp_path %s/tmp/%s;" % (t, h, t))
    for p in scn["policies"].values():
        base = os.path.join(state, "pki", cert_base(p))
        www = os.path.join(h, "www", p["host"])
        out.append("    server {")
        for a in p["addrs"]:
            out.append("        listen %s:443 ssl;" % (("[%s]" % a) if ":" in a else a))
        out += ["        server_name %s;" % p["host"],
                "        ssl_certificate %s.pem;" % base,
                "        ssl_certificate_key %s.key;" % base]
        typ = '""' if p["type"] == "none" else q(p["type"])
        serve = ["types { }", "default_type %s;" % typ, "alias %s/mta-sts.txt;" % www]
        if p["chunked"]:
            # A filter that may change the body drops Content-Length:
            # HTTP/1.1 clients get Transfer-Encoding: chunked.
            serve += ["sub_filter_types *;", "sub_filter 'no-such-text' 'no-such-text';",
                      "sub_filter_once off;"]
        if p["slow"]:
            rate = max(1, (len(body_bytes(p)) + 200) // p["slow"])
            serve += ["limit_rate %d;" % rate, "limit_rate_after 0;"]
        if p["redirect"]:
            out.append("        location = %s { return 301 %s; }" % (WELL_KNOWN, p["redirect"]))
            out.append("        location = %s { %s }" % (MOVED, " ".join(serve)))
        elif p["status"] != 200:
            if p["file"] or p["inline"] is not None:
                # error_page keeps the status and sends the body.
                out.append("        error_page %d /error-body;" % p["status"])
                out.append("        location = /error-body { internal; %s }" % " ".join(serve))
            out.append("        location = %s { return %d; }" % (WELL_KNOWN, p["status"]))
        else:
            out.append("        location = %s { %s }" % (WELL_KNOWN, " ".join(serve)))
        out.append("        location / { return 404; }")
        out.append("    }")
    out.append("}")
    return "\n".join(out) + "\n"


def cert_base(p):
    if p["cert"] == "shared":
        return SHARED_CERT
    return p["host"] if p["cert"] == "valid" else "%s.%s" % (p["host"], p["cert"])


def dnsmasq_conf(scn, state):
    d = os.path.join(state, "dns")
    a, aaaa = host_addrs(scn)
    out = ["# generated by tests/world/scenario.py from %s.scn" % scn["name"],
           "no-resolv", "no-hosts", "no-poll", "bind-interfaces",
           "listen-address=%s" % DNS_ADDR, "port=53", "cache-size=0",
           "local-ttl=%d" % scn["ttl"], "log-queries", "log-facility=-",
           "user=root", "group=root", "edns-packet-max=1232"]
    for dom in scn["domains"]:
        out.append("local=/%s/" % dom)
    for s in scn["stub"]:
        out.append("server=/%s/%s" % (s["name"], STUB_ADDR))
    for dom, pref, target in scn["mx"]:
        out.append("mx-host=%s,%s,%d" % (dom, target, pref))
    # One address a line: dnsmasq keeps one IPv4 and one IPv6 address per
    # host-record, several lines for one name add up.
    for n in sorted(set(a) | set(aaaa)):
        for ad in a.get(n, []) + aaaa.get(n, []):
            out.append("host-record=%s,%s" % (n, ad))
    for n, strings in scn["txt"]:
        out.append("txt-record=%s,%s" % (n, ",".join(
            '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"') for s in strings)))
    for n, t in scn["cname"]:
        out.append("cname=%s,%s" % (n, t))
    return "\n".join(out) + "\n"


def stub_conf(scn):
    out = ["# generated by tests/world/scenario.py from %s.scn" % scn["name"]]
    for s in scn["stub"]:
        out.append(" ".join([s["name"], s["mode"]] + s["args"]))
    return "\n".join(out) + "\n"


def plan(scn, state):
    a, aaaa = host_addrs(scn)
    dns = []

    def rec(name, typ, values, status="NOERROR"):
        dns.append({"name": name, "type": typ, "status": status, "answers": sorted(values)})

    mx = {}
    for dom, pref, target in scn["mx"]:
        mx.setdefault(dom, []).append("%d %s." % (pref, target.rstrip(".")) if target != "."
                                      else "%d ." % pref)
    for dom, v in mx.items():
        rec(dom, "MX", v)
    for n, v in a.items():
        rec(n, "A", v)
    for n, v in aaaa.items():
        rec(n, "AAAA", v)
    txt = {}
    for n, strings in scn["txt"]:
        txt.setdefault(n, []).append(dig_txt(strings))
    for n, v in txt.items():
        rec(n, "TXT", v)
    for n, t in scn["cname"]:
        rec(n, "CNAME", [t + "."])
    for dom in scn["domains"]:
        rec("no-such-name." + dom, "A", [], "NXDOMAIN")
    policies = []
    for p in scn["policies"].values():
        body = body_bytes(p)
        policies.append({
            "domain": p["domain"], "host": p["host"], "addrs": p["addrs"],
            "cert": p["cert"], "cert_base": cert_base(p),
            "url": "https://%s%s" % (p["host"], WELL_KNOWN),
            "status": 301 if p["redirect"] else p["status"],
            "type": p["type"], "redirect": p["redirect"],
            "moved_url": "https://%s%s" % (p["host"], MOVED) if p["redirect"] else None,
            "chunked": p["chunked"], "slow": p["slow"], "pad": p["pad"],
            "body_file": os.path.join(state, "http", "www", p["host"], "mta-sts.txt")
            if body else None,
            "body_size": len(body), "dns": p["dns"]})
    addrs4, addrs6 = [DNS_ADDR, STUB_ADDR], []
    every = [x for v in a.values() for x in v] + [x for v in aaaa.values() for x in v]
    every += [x for p in scn["policies"].values() for x in p["addrs"]]
    every += [x for m in scn["mxhosts"] for x in m["addrs"]]
    for x in every:
        lst = addrs6 if ":" in x else addrs4
        if x not in lst:
            lst.append(x)
    return {
        "scenario": scn["name"], "describe": scn["describe"],
        "domains": scn["domains"], "resolver": STUB_ADDR if scn["resolver"] == "stub" else DNS_ADDR,
        "dns_addr": DNS_ADDR, "stub_addr": STUB_ADDR,
        "stub_forwards": scn["resolver"] == "stub",
        "addrs4": addrs4, "addrs6": addrs6, "dns": dns, "stub": scn["stub"],
        "policies": policies, "mxhosts": scn["mxhosts"]}


def build(path, state):
    scn = parse(path)
    pl = plan(scn, state)
    for sub in ("dns", "http/tmp", "http/www", "mx", "pki"):
        os.makedirs(os.path.join(state, sub), exist_ok=True)
    with open(os.path.join(state, "dns", "dnsmasq.conf"), "w") as f:
        f.write(dnsmasq_conf(scn, state))
    with open(os.path.join(state, "dns", "stub.conf"), "w") as f:
        f.write(stub_conf(scn))
    with open(os.path.join(state, "http", "nginx.conf"), "w") as f:
        f.write(nginx_conf(scn, state))
    for p in scn["policies"].values():
        www = os.path.join(state, "http", "www", p["host"])
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "mta-sts.txt"), "wb") as f:
            f.write(body_bytes(p))
    with open(os.path.join(state, "plan.json"), "w") as f:
        json.dump(pl, f, indent=1)
        f.write("\n")
    with open(os.path.join(state, "certs.tsv"), "w") as f:
        for p in scn["policies"].values():
            f.write("%s\t%s\t%s\t%s\n" % (p["host"], p["cert"], cert_base(p), p["domain"]))
    with open(os.path.join(state, "mxhosts.tsv"), "w") as f:
        for m in scn["mxhosts"]:
            f.write("%s\t%s\t%s\n" % (m["host"], m["role"], ",".join(m["addrs"])))
    with open(os.path.join(state, "plan.sh"), "w") as f:
        f.write("W_ADDRS4=%s\n" % shlex.quote(" ".join(pl["addrs4"])))
        f.write("W_ADDRS6=%s\n" % shlex.quote(" ".join(pl["addrs6"])))
        f.write("W_RESOLVER=%s\n" % pl["resolver"])
        f.write("W_STUB_FORWARD=%d\n" % (1 if pl["stub_forwards"] else 0))
        f.write("W_HAVE_STUB=%d\n" % (1 if scn["stub"] or pl["stub_forwards"] else 0))
        f.write("W_HAVE_HTTP=%d\n" % (1 if scn["policies"] else 0))
        f.write("W_DESCRIBE=%s\n" % shlex.quote(scn["describe"]))


def main():
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "check":
            parse(sys.argv[2])
        elif len(sys.argv) == 4 and sys.argv[1] == "build":
            build(sys.argv[2], sys.argv[3])
        else:
            sys.exit("usage: scenario.py check FILE | scenario.py build FILE STATEDIR")
    except ScnError as e:
        sys.exit("scenario: %s" % e)
    except OSError as e:
        sys.exit("scenario: %s" % e)


if __name__ == "__main__":
    main()
