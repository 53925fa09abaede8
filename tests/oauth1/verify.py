#!/usr/bin/env python3
"""Verifies authgate's OAuth 1.0a (RSA-SHA1) signatures with oauthlib, an implementation
nobody here wrote.

Usage: verify.py LINES.jsonl PUBLIC.pem

Each line of LINES.jsonl is one request as the product received it:
  {"method", "url" (base_url + path, then "?" + query when there is one),
   "authorization" (the Authorization header value), "content_type" (or null),
   "body" (string, or null), "user" (the user it was sent for),
   "consumer_key" (expected), "now" (unix seconds when the test ran), "id" (optional)}

Every record is checked with oauthlib's own functions (collect_parameters, Request,
verify_rsa_sha1), plus what the product relies on: an empty oauth_token, RSA-SHA1, version
1.0, the consumer key, a fresh timestamp, a unique nonce of at least 32 hex digits, exactly
one xoauth_requestor_id naming the user, no user_id, and oauth_* parameters only in the
header. A tampered copy of the first record must fail verification, so a verifier that
accepts everything cannot pass.

Prints one JSON line {"checked", "verified", "failures" (first 20 reasons)} and exits 0
only when every record verified and the tampered copies were refused. The base string
oauthlib computes is printed to stderr for the first failures.
"""

import json
import re
import sys

try:
    from oauthlib.common import Request, urldecode
    from oauthlib.oauth1.rfc5849 import signature, utils
except ImportError as e:  # the caller turns this into "run ./scripts/test.sh"
    print(f"cannot import oauthlib ({e}); run ./scripts/test.sh, which installs it "
          "into target/oauth1-py", file=sys.stderr)
    sys.exit(3)

FORM = "application/x-www-form-urlencoded"
MAX_SKEW = 300
NONCE = re.compile(r"^[0-9a-fA-F]{32,}$")
MAX_REASONS = 20
MAX_DETAILED = 5


def split_url(url):
    """(base URI with path, query or '')."""
    base, _, query = url.partition("?")
    return base, query


def signed_body(rec):
    """The body as oauthlib collects it: only for a POST with a form content type."""
    ct = rec.get("content_type")
    if rec["method"].upper() != "POST" or ct is None:
        return None
    if ct.split(";", 1)[0].strip().lower() != FORM:
        return None
    return rec.get("body") or ""


def base_string(rec, params):
    base, _ = split_url(rec["url"])
    return signature.signature_base_string(
        rec["method"], signature.base_string_uri(base),
        signature.normalize_parameters(params))


def verify(rec, public_pem):
    """(ok, reason, params). Uses oauthlib only."""
    _, query = split_url(rec["url"])
    auth = rec["authorization"]
    body = signed_body(rec)
    if body:
        # oauthlib's extract_params silently drops a body it cannot decode; decode it here
        # first so a body that is not signed as sent cannot pass unnoticed.
        urldecode(body)
    headers = {"Authorization": auth}
    params = signature.collect_parameters(
        uri_query=query, body=body, headers=headers,
        exclude_oauth_signature=True, with_realm=False)
    header_params = dict(utils.parse_authorization_header(auth))
    sig = header_params.get("oauth_signature")
    if sig is None:
        return False, "no oauth_signature in the header", params
    req = Request(rec["url"], http_method=rec["method"], body=body, headers=headers)
    req.params = params
    req.signature = utils.unescape(sig)
    if not signature.verify_rsa_sha1(req, public_pem):
        return False, "RSA-SHA1 signature does not verify", params
    return True, "", params


def check_fields(rec, nonces):
    """The per-record rules besides the signature; a list of reasons."""
    bad = []
    auth = rec["authorization"]
    if not auth.startswith("OAuth "):
        return [f"Authorization is not OAuth: {auth[:40]!r}"]
    hp = utils.parse_authorization_header(auth)
    names = [k for k, _ in hp]
    for k in set(names):
        if names.count(k) > 1:
            bad.append(f"{k} repeated in the header")
    h = {k: utils.unescape(v) for k, v in hp}
    if "oauth_token" not in h:
        bad.append("oauth_token missing")
    elif h["oauth_token"] != "":
        bad.append(f"oauth_token not empty: {h['oauth_token']!r}")
    if h.get("oauth_signature_method") != "RSA-SHA1":
        bad.append(f"oauth_signature_method {h.get('oauth_signature_method')!r}")
    if h.get("oauth_version") != "1.0":
        bad.append(f"oauth_version {h.get('oauth_version')!r}")
    if h.get("oauth_consumer_key") != rec["consumer_key"]:
        bad.append(f"oauth_consumer_key {h.get('oauth_consumer_key')!r}, "
                   f"expected {rec['consumer_key']!r}")
    ts = h.get("oauth_timestamp", "")
    if not ts.isdigit() or abs(int(ts) - int(rec["now"])) > MAX_SKEW:
        bad.append(f"oauth_timestamp {ts!r} not within {MAX_SKEW} s of {rec['now']}")
    nonce = h.get("oauth_nonce", "")
    if not NONCE.match(nonce):
        bad.append(f"oauth_nonce {nonce!r} is not >= 32 hex digits")
    elif nonce in nonces:
        bad.append(f"oauth_nonce {nonce} reused")
    nonces.add(nonce)

    _, query = split_url(rec["url"])
    qp = urldecode(query) if query else []
    who = [v for k, v in qp if k == "xoauth_requestor_id"]
    if who != [rec["user"]]:
        bad.append(f"xoauth_requestor_id in the query is {who!r}, expected [{rec['user']!r}]")
    if any(k.lower() == "user_id" for k, _ in qp):
        bad.append("user_id in the query")
    if any(k.lower() == "xoauth_requestor_id" != k for k, _ in qp):
        bad.append("a differently cased xoauth_requestor_id in the query")
    if any(k.startswith("oauth_") for k, _ in qp):
        bad.append("oauth_* parameter in the query")
    body = signed_body(rec)
    if body:
        bp = urldecode(body)
        if any(k.startswith("oauth_") for k, _ in bp):
            bad.append("oauth_* parameter in the form body")
    return bad


def tampered(rec):
    """Copies of `rec` that must not verify: another user, an added parameter."""
    base, query = split_url(rec["url"])
    pairs = query.split("&") if query else []
    other = "mallory"
    swapped = [("xoauth_requestor_id=" + other) if p.startswith("xoauth_requestor_id=") else p
               for p in pairs]
    yield "another user", dict(rec, url=base + "?" + "&".join(swapped), user=other)
    yield "an added parameter", dict(rec, url=base + "?" + "&".join(pairs + ["extra=1"]))
    yield "another method", dict(rec, method="DELETE" if rec["method"] != "DELETE" else "GET",
                                 content_type=None, body=None)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="ascii") as f:
        public_pem = f.read()
    records = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))

    checked = verified = detailed = 0
    failures = []
    nonces = set()

    def fail(i, rec, why, params=None):
        nonlocal detailed
        label = rec.get("id") or f"#{i}"
        failures.append(f"{label} {rec['method']} {rec['url']}: {why}")
        if params is not None and detailed < MAX_DETAILED:
            detailed += 1
            print(f"--- {label} {rec['method']} {rec['url']}\n    {why}\n"
                  f"    content-type: {rec.get('content_type')!r} body: {rec.get('body')!r}\n"
                  f"    authorization: {rec['authorization']}\n"
                  f"    oauthlib base string: {base_string(rec, params)}",
                  file=sys.stderr)

    for i, rec in enumerate(records):
        checked += 1
        try:
            reasons = check_fields(rec, nonces)
            ok, why, params = verify(rec, public_pem)
        except Exception as e:  # oauthlib raising is a failure of this record, not of the run
            fail(i, rec, f"{type(e).__name__}: {e}")
            continue
        if not ok:
            reasons.insert(0, why)
        if reasons:
            fail(i, rec, "; ".join(reasons), params)
        else:
            verified += 1

    self_check = bool(records)
    if not records:
        failures.append("no records")
    else:
        for what, bad in tampered(records[0]):
            try:
                ok, _, _ = verify(bad, public_pem)
            except Exception:
                ok = False
            if ok:
                self_check = False
                failures.append(f"self-check: a copy of the first record with {what} verified")

    print(json.dumps({"checked": checked, "verified": verified,
                      "failures": failures[:MAX_REASONS]}))
    return 0 if records and verified == checked and self_check else 1


if __name__ == "__main__":
    sys.exit(main())
