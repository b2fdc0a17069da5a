"""`nginx -t` on token settings: every bad key file or token directive is
refused with a message naming the file (key file and nginx.conf) and the
line of the offending directive (docs/directives.md, the token directives).

Most cases are rows of REFUSED: http-level directives, the text that marks
the line nginx must name, and what the message must hold."""

import json

import pytest

from microshop import assert_conf_refused, b64url

SERVER = """
server {
    listen 127.0.0.1:%(port)d;
    location / {
        microshop_auth %(auth)s;
        root html;
    }
}
"""


@pytest.fixture(scope="module")
def conf_test(nginx):
    """check(http_conf_lines, auth, marker) -> (rc, stderr, line of the
    marker); check.n is the instance (files go under its prefix)."""
    n = nginx.new()

    def check(directives, auth="on", marker=None):
        return n.test_config_at(directives + SERVER % {"port": n.port,
                                                       "auth": auth}, marker)

    check.n = n
    return check


def placeholders(keys, conf_test):
    """What {name} stands for in the directives and needles of a case."""
    return {"rsa_pub": keys.rsa_public_pem,
            "ec256_pub": keys.ec256_public_pem,
            "ec384_pub": keys.ec384_public_pem,
            "rsa_key": keys.rsa_private_pem,
            "ec256_key": keys.ec256_private_pem,
            "hs256": keys.hs256_file, "hs512": keys.hs512_file,
            "jwks": keys.jwks_file, "keys": keys.dir,
            "files": conf_test.n.prefix + "/files"}


def jwks(edit):
    """File data for a case: the suite's JWKS after edit(its "keys")."""
    def data(keys):
        doc = json.loads(json.dumps(keys.jwks))
        edit(doc["keys"])
        return json.dumps(doc)
    return data


def jwks_with_private(kid, member):
    """The JWKS with a private member in the key of that kid."""
    def edit(jwk_list):
        for jwk in jwk_list:
            if jwk["kid"] == kid:
                jwk[member] = b64url(b"\1" * 32)
    return jwks(edit)


def refused(case_id, directives, marker, *needles, auth="on", files=None):
    """A case: `directives` (and `microshop_auth <auth>` in a location) are
    refused; the message names the line holding `marker` (None: any line)
    and holds every needle.  files: {name: data, or data(keys)} written to
    {files}/name first."""
    return pytest.param(directives, marker, needles, auth, files or {},
                        id=case_id)


def key_alg(kind, alg, *needles):
    return refused("%s-pub-alg-%s" % (kind, alg),
                   "microshop_jwt_key {%s_pub} alg=%s;" % (kind, alg),
                   kind + ".pub", "{%s_pub}" % kind, *needles)


REFUSED = [
    # key files
    refused("missing-key-file", "microshop_jwt_key {keys}/no-such-key.pem;",
            "no-such-key.pem", "{keys}/no-such-key.pem"),
    refused("missing-jwks-file",
            "microshop_jwt_jwks {keys}/no-such-jwks.json;",
            "no-such-jwks.json", "{keys}/no-such-jwks.json"),
    refused("private-rsa-pem", "microshop_jwt_key {rsa_key};", "rsa.key",
            "{rsa_key}", "private"),
    refused("private-ec256-pem", "microshop_jwt_key {ec256_key};",
            "ec256.key", "{ec256_key}", "private"),
    refused("hs256-secret-31-bytes",
            "microshop_jwt_key {files}/short.secret alg=HS256;",
            "short.secret", "{files}/short.secret", "short",
            files={"short.secret": b"s" * 31 + b"\n"}),
    # 48 bytes are fine for HS256 but too short for HS512
    refused("hs512-secret-48-bytes",
            "microshop_jwt_key {files}/mid.secret alg=HS512;",
            "mid.secret", "{files}/mid.secret", "short",
            files={"mid.secret": b"m" * 48}),
    refused("hs-secret-needs-alg", "microshop_jwt_key {hs256};",
            "hs256.secret", "{hs256}"),
    # an HS alg with a PEM file, a key with another key type's alg
    *[key_alg(kind, alg) for kind in ("rsa", "ec256")
      for alg in ("HS256", "HS512")],
    *[key_alg(kind, alg, alg) for kind, alg in [
        ("rsa", "ES256"), ("ec256", "RS256"), ("ec256", "ES384"),
        ("ec384", "ES256"), ("rsa", "none"), ("rsa", "PS256")]],

    # JWKS files
    *[refused("jwks-private-%s-%s" % (kid, member),
              "microshop_jwt_jwks {files}/%s;" % name, name,
              "{files}/" + name, '"%s"' % member,
              files={name: jwks_with_private(kid, member)})
      for kid, member in [("rsa-jwks", "d"), ("rsa-jwks", "p"),
                          ("ec-jwks", "d")]
      for name in ["private-%s-%s.json" % (kid, member)]],
    refused("jwks-duplicate-kid", "microshop_jwt_jwks {files}/dup-kid.json;",
            "dup-kid.json", "{files}/dup-kid.json", "rsa-jwks",
            files={"dup-kid.json": jwks(
                lambda ks: ks[1].update(kid=ks[0]["kid"]))}),
    refused("jwks-without-alg", "microshop_jwt_jwks {files}/no-alg.json;",
            "no-alg.json", "{files}/no-alg.json",
            files={"no-alg.json": jwks(lambda ks: ks[2].pop("alg"))}),
    refused("jwks-bad-json", "microshop_jwt_jwks {files}/bad.json;",
            "bad.json", "{files}/bad.json",
            files={"bad.json": '{"keys": ['}),
    refused("kid-twice",
            "microshop_jwt_key {rsa_pub} kid=same;\n"
            "microshop_jwt_key {ec256_pub} kid=same; # second",
            "# second", "{ec256_pub}", "same"),
    refused("kid-of-key-again-in-jwks",
            "microshop_jwt_key {ec256_pub} kid=rsa-jwks;\n"
            "microshop_jwt_jwks {jwks};",
            "jwks.json", "{jwks}", "rsa-jwks"),

    # microshop_auth on without any key: the message points at that line,
    # not at the end of the http block (with many locations the operator
    # must find it)
    refused("auth-on-without-key", "", None, "microshop_auth"),
    refused("auth-on-without-key-names-its-line", "", "microshop_auth on",
            "microshop_auth"),

    # microshop_require_scope
    *[refused("require-scope-method-%s" % methods,
              "microshop_jwt_key {ec256_pub};\n"
              "microshop_require_scope %s inventory:read;" % methods,
              "microshop_require_scope", '"%s"' % methods)
      for methods in ["FETCH", "GET,FETCH", "get", "GET,,POST"]],
    # `GET, POST orders:write` is a typo nginx splits into "GET," and
    # scopes "POST orders:write": GET would then need a scope named POST
    # and POST would be left uncovered.  Refused like "GET,,POST".
    refused("require-scope-trailing-comma",
            "microshop_jwt_key {ec256_pub};\n"
            "microshop_require_scope GET, POST orders:write;",
            "microshop_require_scope", '"GET,"'),
    refused("require-scope-bad-scope",
            "microshop_jwt_key {ec256_pub};\n"
            "microshop_require_scope GET 'inv\"entory';",
            "microshop_require_scope", "microshop_require_scope"),

    # microshop_token_class, _leeway, _key parameters, _claims
    *[refused("token-class-%s" % args,
              "microshop_jwt_key {ec256_pub};\n"
              "microshop_token_class %s;" % args, "microshop_token_class")
      for args in ["staff", "staff scopes=a,b", "staff max_ttl=",
                   "staff max_ttl=0", "staff max_ttl=soon",
                   "staff max_ttl=15m scopes=",
                   "staff max_ttl=15m scopes=a,,b",
                   "staff max_ttl=15m colour=blue"]],
    refused("token-class-twice",
            "microshop_jwt_key {ec256_pub};\n"
            "microshop_token_class staff max_ttl=15m;\n"
            "microshop_token_class staff max_ttl=1h; # again",
            "# again", "staff"),
    *[refused("leeway-%s" % value,
              "microshop_jwt_key {ec256_pub};\n"
              "microshop_jwt_leeway '%s';" % value,
              "microshop_jwt_leeway", "leeway")
      for value in ["abc", "2h", "-5s", "30 s", "1y"]],
    *[refused("key-parameter-%s" % params,
              "microshop_jwt_key {ec256_pub} %s;" % params,
              "microshop_jwt_key")
      for params in ["kid=", "alg=", "colour=red", "alg=HS257"]],
    *[refused("claims-%s" % params,
              "microshop_jwt_key {ec256_pub};\n"
              "microshop_jwt_claims %s;" % params,
              "microshop_jwt_claims", params.split()[-1])
      for params in ["seller=", "colour=red", "seller=a seller=b"]],
]


@pytest.mark.parametrize("directives,marker,needles,auth,files", REFUSED)
def test_refused(conf_test, keys, directives, marker, needles, auth, files):
    values = placeholders(keys, conf_test)
    for name, data in files.items():
        conf_test.n.write_file("files/" + name,
                               data(keys) if callable(data) else data)
    rc, err, line = conf_test(directives.format(**values) + "\n", auth=auth,
                              marker=marker)
    assert_conf_refused(rc, err, line,
                        *[needle.format(**values) for needle in needles])


def test_good_config_is_accepted(conf_test, keys):
    rc, err, _ = conf_test(
        "microshop_jwt_key %s kid=a;\n"
        "microshop_jwt_key %s kid=b alg=ES256;\n"
        "microshop_jwt_key %s kid=c alg=HS256;\n"
        "microshop_jwt_key %s alg=HS512;\n"
        "microshop_jwt_jwks %s;\n"
        "microshop_jwt_leeway 45s;\n"
        "microshop_jwt_claims seller=shop scope=scp class=cls tier=plan;\n"
        "microshop_token_class default max_ttl=1h;\n"
        "microshop_token_class staff max_ttl=15m scopes=a:read,b:write;\n"
        % (keys.rsa_public_pem, keys.ec256_public_pem, keys.hs256_file,
           keys.hs512_file, keys.jwks_file))
    assert rc == 0, err
    assert "syntax is ok" in err


def test_auth_off_without_key_is_fine(conf_test):
    rc, err, _ = conf_test("", auth="off")
    assert rc == 0, err
