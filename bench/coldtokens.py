"""Pools of tokens the gateway has never seen, for the cold-* scenarios of
bench/run (issue 14: the cold token path).

A cold request must carry a token that is not in the verified-token cache,
so every token of a pool is sent once per bench run at most: the pool hands
out slices (take()) and never hands a token out twice; run() tops it up
when the next wrk run may need more.  Tokens are minted here with
python3-cryptography (Debian's, the only thing beyond the stdlib), in one
process per CPU: tools/microshop-token is one process per token, far too
slow for tens of thousands.  The tokens are those microshop-token mints
(docs/token-tool.md): sorted compact JSON, header {alg, kid, typ}, claims
exp, iat, jti, scope, seller, sub; ES256 signatures in the raw R || S form
with S in its low form (docs/http.md, Tokens), which the gateway requires.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature
    HAVE_CRYPTOGRAPHY = True
except ImportError:                 # the cold scenarios are skipped
    HAVE_CRYPTOGRAPHY = False

# the order of the P-256 group: S > N / 2 is turned into N - S (low S)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def compact(obj):
    return b64url(json.dumps(obj, sort_keys=True,
                             separators=(",", ":")).encode())


def _mint(job):
    """Tokens [first, first + count) of a pool: (alg, kid, key bytes, tag,
    first, count, now) -> list of str.  Runs in a worker process."""
    alg, kid, key, tag, first, count, now = job
    head = compact({"alg": alg, "kid": kid, "typ": "JWT"}) + b"."
    if alg == "HS256":
        def sign(data):
            return hmac.new(key, data, hashlib.sha256).digest()
    else:
        pkey = serialization.load_pem_private_key(key, None)
        if alg == "RS256":
            def sign(data):
                return pkey.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            algo = ec.ECDSA(hashes.SHA256())

            def sign(data):
                r, s = decode_dss_signature(pkey.sign(data, algo))
                if s > P256_N // 2:
                    s = P256_N - s
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    out = []
    for i in range(first, first + count):
        data = head + compact({
            "exp": now + 7200, "iat": now, "jti": "%s-%d" % (tag, i),
            "scope": "inventory:read orders:write", "seller": "s1",
            "sub": "bench"})
        out.append((data + b"." + b64url(sign(data))).decode())
    return out


class Pool:
    """The cold tokens of one algorithm and key, each handed out once."""

    def __init__(self, alg, kid, key_path, tag):
        self.alg, self.kid, self.tag = alg, kid, tag
        with open(key_path, "rb") as f:
            self.key = f.read()
        if alg == "HS256":
            self.key = self.key.rstrip(b"\r\n")
        self.tokens = []
        self.next = 0               # the first token never handed out
        self.mint_seconds = 0.0

    def left(self):
        return len(self.tokens) - self.next

    def ensure(self, count):
        """Mint until at least count tokens are left (in parallel)."""
        missing = count - self.left()
        if missing <= 0:
            return
        t0 = time.monotonic()
        procs = max(1, os.cpu_count() or 1)
        chunk = max(1000, -(-missing // (procs * 4)))
        first, jobs, now = len(self.tokens), [], int(time.time())
        while missing > 0:
            n = min(chunk, missing)
            jobs.append((self.alg, self.kid, self.key, self.tag, first, n,
                         now))
            first += n
            missing -= n
        # one child process per CPU, each minting its share of the jobs
        # (this file run as a script; not multiprocessing's fork, which
        # can deadlock a child on a lock the parent held)
        shares = [jobs[i::procs] for i in range(procs)]
        children = []
        for share in shares:
            if not share:
                continue
            child = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            child.stdin.write(json.dumps(
                [j[:2] + (j[2].decode("latin-1"),) + j[3:] for j in share]))
            child.stdin.close()
            children.append(child)
        for child in children:
            out = child.stdout.read()
            child.stdout.close()
            if child.wait() != 0:
                raise RuntimeError("minting %s tokens failed" % self.alg)
            self.tokens += out.split()
        self.mint_seconds += time.monotonic() - t0

    def take(self, count):
        """count tokens never handed out before (minted when needed); the
        caller says with used() how many of them a run may have sent."""
        self.ensure(count)
        self.taken = self.next
        self.next += count
        return self.tokens[self.taken:self.next]

    def used(self, count):
        """Of the last take(), only the first count tokens were (or may
        have been) sent: the others are handed out again."""
        self.next = min(self.next, self.taken + count)

    def describe(self):
        return "%d %s tokens minted in %.1f s" % (len(self.tokens), self.alg,
                                                 self.mint_seconds)


if __name__ == "__main__":
    # a minting child: jobs (JSON, the key as latin-1) on stdin, one token
    # a line on stdout
    for job in json.load(sys.stdin):
        job[2] = job[2].encode("latin-1")
        sys.stdout.write("\n".join(_mint(job)) + "\n")
