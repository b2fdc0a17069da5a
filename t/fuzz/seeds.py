#!/usr/bin/python3
"""Writes the seed corpus of each fuzz target, t/fuzz/corpus/<name>/
(committed; run again only to start the corpus anew: keys are new each
time).  A few good inputs and a few near misses per target; the fuzzer
finds the rest.  The formats are those of the fuzz_<name>.c heads.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

HS_SECRET = b"fuzz-hs256-secret-0123456789abcdef"     # fuzz_jws.c
WEBHOOK_SECRET = b"fuzz-webhook-secret-0123456789abcdef"  # fuzz_signature.c
NOW = 1700000000


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def j(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def hs256_token(header, claims):
    signing = b64u(header) + b"." + b64u(claims)
    return signing + b"." + b64u(hmac.new(HS_SECRET, signing,
                                          hashlib.sha256).digest())


def write(name, seeds):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i, data in enumerate(seeds):
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(data)


CLAIMS = {"sub": "user-1", "seller": "s1", "scope": "inventory:read",
          "iat": NOW - 10, "exp": NOW + 300, "jti": "j1",
          "iss": "https://issuer.example", "aud": "shop-api"}


def bearer():
    t = hs256_token(j({"alg": "HS256"}), j(CLAIMS))
    return [b"Bearer " + t, b"bearer abc==", b"Bearer", b"Bearer  ",
            b"Bearer a b", b"Basic dXNlcjpwYXNzd29yZA==", b"Bearer a=b",
            b"Bearer abc\t", b"Bearer\tabc", b"BEARER x.y.z"]


def idempotency():
    return [b"order-123", b'"order-123"', b'"a\\b"', b'"', b"",
            b"x" * 255, b"caf\xc3\xa9", b"POST/v1/orders?a=1{\"q\":1}"]


def checkout():
    return [j({"items": [{"sku": "A1", "quantity": 2}]}),
            j({"items": [{"sku": "A1", "quantity": 1},
                         {"sku": "B2", "quantity": 3},
                         {"sku": "A1", "quantity": 4}]}),
            b'{"items":[{"sku":"A1","quantity":1,"quantity":2}]}',
            j({"items": []}), j({"items": [{"sku": "", "quantity": 1}]}),
            j({"items": [{"sku": "A\n1", "quantity": 1}]}),
            j({"items": [{"sku": "A1", "quantity": 1000000},
                         {"sku": "A1", "quantity": 1}]}),
            j({"items": [{"sku": "A1", "quantity": 1.5}]}),
            j({"Items": [{"SKU": "A1", "quantity": 1}], "note": "x"}),
            b"[1,2]", b"{"]


def signature():
    body = j({"type": "inventory.set", "seller": "s1", "sku": "A1",
              "stock": 5, "version": 1})
    mac = hmac.new(WEBHOOK_SECRET, b"%d." % NOW + body,
                   hashlib.sha256).hexdigest().encode()
    return [b"t=%d,v1=%s\0%s" % (NOW, mac, body),
            b"t=%d,v1=%s,v1=%s\0%s" % (NOW, b"0" * 64, mac.upper(), body),
            b"t=%d, v0=abc ,v1=%s\0%s" % (NOW, mac, body),
            b"t=1,v1=%s\0x" % mac, b"t=%d,t=%d,v1=%s\0" % (NOW, NOW, mac),
            b"v1=%s" % mac, b"t=,v1=", b",,", b"t=99999999999999999,v1=" + mac]


def jws():
    hs = hs256_token(j({"alg": "HS256", "kid": "hs", "typ": "JWT"}),
                     j(CLAIMS))
    raw = [b"\0" + hs,
           b"\0" + hs256_token(j({"alg": "HS256"}), j(CLAIMS)),
           b"\0" + hs[:-4] + b"AAAA",
           b"\0" + b64u(j({"alg": "none"})) + b"." + b64u(j(CLAIMS)) + b".",
           b"\0" + b64u(j({"alg": "ES256", "kid": "es"})) + b"."
           + b64u(j(CLAIMS)) + b"." + b64u(b"\0" * 64),
           b"\0" + b64u(j({"alg": "RS256", "kid": "rs"})) + b"."
           + b64u(j(CLAIMS)) + b"." + b64u(b"\1" * 256),
           b"\0a.b.c", b"\0..", b"\0" + b"A" * 100]
    signed = [b"\1" + j({"alg": "HS256", "kid": "hs"}) + b"\n" + j(CLAIMS),
              b"\1" + j({"alg": "HS256", "typ": "at+jwt"}) + b"\n"
              + j(dict(CLAIMS, aud=["x", "partner-api"],
                       scope=["inventory:read", "inventory:write"])),
              b"\1" + j({"alg": "HS256", "crit": ["exp"]}) + b"\n{}",
              b'\1{"alg":"HS256","alg":"HS256"}\n{}',
              b"\1" + j({"alg": "HS256", "kid": 7}) + b"\n{}",
              b"\1" + j({"alg": "HS384"}) + b"\n{}",
              b"\1" + j({"alg": "HS256"}) + b"\n[1]",
              b"\1" + j({"alg": "HS256"}) + b'\n{"exp":1e300,"nbf":"x"}']
    return raw + signed


def claims():
    return [j(CLAIMS),
            j(dict(CLAIMS, exp=NOW - 100)),
            j(dict(CLAIMS, nbf=NOW + 100, iat=NOW + 100)),
            j(dict(CLAIMS, aud=["a", "shop-api"], exp=float(NOW + 10))),
            j(dict(CLAIMS, scope="  inventory:read   inventory:write a ")),
            j(dict(CLAIMS, scope=["inventory:read", ""])),
            j(dict(CLAIMS, scope='a"b', iss=7)),
            j({"exp": 9223372036854775807, "iat": -9223372036854775807}),
            j({"exp": 1e19, "iat": -1e19, "sub": "a\r\nb"}),
            b'{"exp":' + b"9" * 40 + b"}"]


def json_docs():
    """The one-pass JSON reader (fuzz_json.c): the claims, and what
    jansson and RFC 8259 disagree or are picky about."""
    return claims() + [
        b'{"a":"\\u00e9\\ud83d\\ude00","b":"\xc3\xa9"}',
        b'{"a":"\\u0000"}', b'{"a":"\\ud800"}', b'{"a":"\xc0\xaf"}',
        b'{"a":1,"a":2}', b'{"o":{"k":[1,{"k":2,"k":3}]}}',
        b'{"a":-0,"b":0e0,"c":1e400,"d":01,"e":9223372036854775808}',
        b'{"a":1}\x00', b' {"a" : [ true , false , null ] } ',
        b'{"a":' + b'[' * 70 + b']' * 70 + b'}']


def redirect():
    return [b"MOVED 3999 127.0.0.1:6381", b"ASK 3999 127.0.0.1:6381",
            b"MOVED 1 ::1:7000", b"MOVED 5 :7000", b"MOVED 16384 h:1",
            b"MOVED 1 h:65536", b"MOVED 1 h:1 ", b"MOVEDX 1 h:1",
            b"TRYAGAIN Multiple keys request during rehashing of slot",
            b"CLUSTERDOWN The cluster is down", b"ERR unknown command",
            b"mymaster 127.0.0.1 6379 127.0.0.1 6380",
            b"mymaster 127.0.0.1 6379 127.0.0.1",
            b"{user1000}.following", b"foo{{bar}}zap", b"foo{}{bar}", b"}{",
            b"slave 127.0.0.1:7202 127.0.0.1 7202 @ mymaster 127.0.0.1 7201",
            b"master mymaster 127.0.0.1 7211"]


def event():
    return [b"0", b"0-0", b"1796277214221-3", b"1796277214221",
            b"18446744073709551615-18446744073709551615",
            b"18446744073709551616", b"01", b"1-01", b"1-", b"-1", b"1-2-3",
            b" 1", b"s1", b"caf\xc3\xa9", b"\xff", b"s\"1\\", b"a\x00b"]


def keys():
    rsa_key = rsa.generate_private_key(65537, 2048)
    ec_keys = {c: ec.generate_private_key(c())
               for c in (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)}
    return rsa_key, ec_keys


def jwk_of(pub, **kw):
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        doc = {"kty": "RSA", "alg": "RS256",
               "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8,
                                      "big")).decode(),
               "e": b64u(n.e.to_bytes(3, "big")).decode()}
    else:
        n = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[pub.curve.key_size]
        doc = {"kty": "EC", "crv": crv,
               "x": b64u(n.x.to_bytes(size, "big")).decode(),
               "y": b64u(n.y.to_bytes(size, "big")).decode()}
    doc.update(kw)
    return doc


def jwks(rsa_key, ec_keys):
    r = jwk_of(rsa_key.public_key(), kid="r1", use="sig")
    e = jwk_of(ec_keys[ec.SECP256R1].public_key(), kid="e1")
    e384 = jwk_of(ec_keys[ec.SECP384R1].public_key(), alg="ES384")
    e521 = jwk_of(ec_keys[ec.SECP521R1].public_key(), kid="e5")
    oct_ = {"kty": "oct", "alg": "HS256", "kid": "o1",
            "k": b64u(b"k" * 32).decode()}
    return [j({"keys": [r, e, oct_]}), j({"keys": [e384, e521]}),
            j({"keys": [dict(r, use="enc"), e]}),
            j({"keys": [dict(e, d="AAAA")]}),
            j({"keys": [dict(e, kid="base")]}),
            j({"keys": [e, e]}),
            j({"keys": [dict(e, x=e["x"][:-2])]}),
            j({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}),
            j({"keys": [dict(oct_, k=b64u(b"-----BEGIN x").decode())]}),
            b'{"keys":[],"keys":[]}', j({"keys": []}), b"{}"]


def pem(rsa_key, ec_keys):
    def spki(k):
        return k.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)

    pkcs1 = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    ec256 = ec_keys[ec.SECP256R1]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    now = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(ec256.public_key()).serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(ec256, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))
    private = ec256.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    # first byte: alg (0 none, 1 HS256, 4 RS256, 7 ES256, 8 ES384),
    # second: kid (0 none, 1 "k1", 2 "", 3 "base")
    return [b"\0\1" + spki(rsa_key), b"\4\0" + pkcs1,
            b"\7\1" + spki(ec256), b"\x08\0" + spki(ec256),
            b"\0\0" + spki(ec_keys[ec.SECP521R1]), b"\0\1" + cert + cert,
            b"\0\0" + private, b"\1\1" + b"s" * 32 + b"\r\n",
            b"\1\0" + b"short", b"\1\3" + b"s" * 40,
            b"\1\0-----BEGIN PUBLIC KEY-----" + b"s" * 40,
            b"\0\0" + spki(rsa_key) + spki(ec256)]


def main():
    write("bearer", bearer())
    write("idempotency", idempotency())
    write("checkout", checkout())
    write("signature", signature())
    write("redirect", redirect())
    write("event", event())
    write("jws", jws())
    write("claims", claims())
    write("json", json_docs())
    rsa_key, ec_keys = keys()
    write("jwks", jwks(rsa_key, ec_keys))
    write("pem", pem(rsa_key, ec_keys))


if __name__ == "__main__":
    main()
