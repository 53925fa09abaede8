#!/usr/bin/env python3
"""Path differential client: sends every case through authgate on raw sockets and checks
that for each request authgate forwarded, the path Tomcat resolved (servletPath + pathInfo)
is exactly the canonical path authgate authorized (the request URI Tomcat received, which
authgate forwards verbatim), percent-decoded once.

Usage: diff_client.py HOST:PORT   (prints the counts; exit 1 on any mismatch)
"""
import itertools
import json
import socket
import sys
import urllib.parse

# Catalog section P (docs/catalog.md), P = public, T = protected.
P = "/rest/api/2/serverInfo"
T = "/rest/api/2/issue/ABC-1"
CATALOG = [
    P + ";/../issue/ABC-1", P + "/..;/issue/ABC-1", P + "/%2e%2e/issue/ABC-1", P + "/%2E%2E/issue/ABC-1",
    P + "/.%2e/issue/ABC-1", P + "%2f..%2fissue%2fABC-1", P + "/%252e%252e/issue/ABC-1", P + "%3B/../issue/ABC-1",
    P + "\\..\\issue\\ABC-1", P + "%5C..%5Cissue%5CABC-1", "//rest/api/2/issue/ABC-1", "/rest//api/2/issue/ABC-1",
    P + "%23/../issue/ABC-1", P + "#/../issue/ABC-1", T + "?x=/rest/api/2/serverInfo", P + "%20", P + "%09", P + ".",
    P + "/", "/REST/api/2/issue/ABC-1", "/%c0%ae%c0%ae/x", "/%c0%af", "/%ff", P + "%00/../x", P + "/.%00/x",
    P + ";jsessionid=abc", "/s/x/_/;/WEB-INF/web.xml", "/s/x/_/;/WEB-INF/classes/seraph-config.xml",
    "/s/x/_/%3B/WEB-INF/web.xml", "/s/x/_/;/../../../rest/api/2/issue/ABC-1", "/s/%2e%2e/rest/api/2/issue/ABC-1",
    "/s/..;/rest/api/2/issue/ABC-1", "/InsightPluginShowGeneralConfiguration.jspa;",
    "/secure/WBSGanttManageScheduleJobAction.jspa;", "/s/%24%7B7*7%7D/", "/rest/api/2/issue/%41BC-1",
    "/rest/api/2/issue/ABC%2D1", "/rest/api/2/issue/ABC%201", "/rest/api/2/issue/%E2%82%AC", "/rest/api/2/issue/a%40b",
    "/rest/api/2/issue/a+b", "/rest/api/2/issue/a%2Bb", "/WEB-INF/web.xml", "/web-inf/web.xml", "/Web-Inf/x",
    "/META-INF/MANIFEST.MF", "/rest/api/2/..", "/rest/api/2/.", "/./rest", "/~", "/%7e", "/a%2e", "/a.", "/.a",
]

# Generated: every sequence of up to 4 segments drawn from the tricky pieces.
PIECES = ["a", "A", ";", ";x", "%2e", "%2E", "%2f", "%5c", "", "..", ".", "%25", "%2e%2e", "%3b"]


# Pieces authgate accepts (decoded unreserved escapes, kept reserved ones, non-ASCII,
# dots inside names): these are forwarded, so they exercise the comparison itself.
ACCEPTED = ["a", "A", "%41", "%7e", "%7E", "%20", "a.b", "+", "%E2%82%AC", "%2d", ".a", "a.", "%40", "%3A", "%3a", "%2B"]


def generated():
    for depth in range(1, 5):
        for seq in itertools.product(PIECES, repeat=depth):
            yield "/" + "/".join(seq)
            if depth <= 2:
                yield "/rest/api/2/" + "/".join(seq)
    for depth in range(1, 4):
        for seq in itertools.product(ACCEPTED, repeat=depth):
            yield "/rest/api/2/issue/" + "/".join(seq)
            yield "/" + "".join(seq)


def send(addr, target):
    host, port = addr
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: jira.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, head.decode("latin-1"), body.decode("utf-8", "replace")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr = (host, int(port))
    cases = list(dict.fromkeys(CATALOG + list(generated())))
    counts = {"sent": 0, "rejected_by_authgate": 0, "forwarded": 0, "tomcat_refused": 0, "mismatches": 0}
    reasons = {}
    mismatches = []
    for target in cases:
        counts["sent"] += 1
        try:
            status, head, body = send(addr, target)
        except OSError as e:
            mismatches.append((target, "connection error: %s" % e))
            counts["mismatches"] += 1
            continue
        if body.lstrip().startswith("{") and '"reason"' in body:
            counts["rejected_by_authgate"] += 1
            reason = json.loads(body).get("reason")
            reasons[reason] = reasons.get(reason, 0) + 1
            continue
        if not body and status in (400, 414, 431):
            # hyper's own answer: its HTTP parser refused the bytes before authgate's pipeline.
            counts["rejected_by_authgate"] += 1
            reasons["hyper_%d" % status] = reasons.get("hyper_%d" % status, 0) + 1
            continue
        counts["forwarded"] += 1
        if "servletPath=" not in body:
            # Tomcat refused what authgate forwarded (its own 400): not a resolution mismatch,
            # but listed so a human can look.
            counts["tomcat_refused"] += 1
            continue
        fields = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        resolved = fields.get("servletPath", "") + fields.get("pathInfo", "")
        forwarded = fields.get("requestURI", "")
        try:
            authorized = urllib.parse.unquote(forwarded, errors="strict")
        except UnicodeDecodeError:
            authorized = None
        if authorized != resolved or fields.get("contextPath", "") != "":
            counts["mismatches"] += 1
            mismatches.append((target, "authgate forwarded %r (decoded %r), Tomcat resolved %r" % (forwarded, authorized, resolved)))
    print("tomcat differential: " + ", ".join("%s=%d" % kv for kv in counts.items()))
    print("authgate rejections by reason: " + json.dumps(reasons, sort_keys=True))
    for target, why in mismatches[:50]:
        print("MISMATCH %r: %s" % (target, why))
    sys.exit(1 if counts["mismatches"] else 0)


if __name__ == "__main__":
    main()
