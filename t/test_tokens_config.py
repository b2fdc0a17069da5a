"""`nginx -t` on token settings: every bad key file or token directive is
refused with a message naming the file (key file and nginx.conf) and the
line of the offending directive (SPEC.md "Who uses it", "Token rules")."""

import json
import os
import re

import pytest

from microshop import b64url

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
def conf_test(nginx, keys):
    """check(http_conf_lines, ...) -> (rc, stderr, line of the marker)."""
    n = nginx.new()

    def check(directives, auth="on", marker=None):
        http_conf = directives + SERVER % {"port": n.port, "auth": auth}
        rc, err = n.test_config(http_conf)
        line = None
        if marker is not None:
            with open(os.path.join(n.prefix + "-t", "conf", "nginx.conf")) \
                    as f:
                for number, text in enumerate(f, 1):
                    if marker in text:
                        line = number
                        break
            assert line is not None, marker
        return rc, err, line

    check.n = n
    return check


def assert_refused(rc, err, line, *needles):
    assert rc != 0, err
    assert "[emerg]" in err, err
    assert re.search(r"-t/conf/nginx\.conf:%d\b" % line, err), \
        "the message does not name nginx.conf:%d: %s" % (line, err)
    for needle in needles:
        assert needle in err, (needle, err)


def write(conf_test, name, data):
    return conf_test.n.write_file("keys/" + name, data)


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


def test_missing_key_file(conf_test, keys):
    path = os.path.join(keys.dir, "no-such-key.pem")
    rc, err, line = conf_test("microshop_jwt_key %s;\n" % path,
                              marker="no-such-key.pem")
    assert_refused(rc, err, line, path)


def test_missing_jwks_file(conf_test, keys):
    path = os.path.join(keys.dir, "no-such-jwks.json")
    rc, err, line = conf_test("microshop_jwt_jwks %s;\n" % path,
                              marker="no-such-jwks.json")
    assert_refused(rc, err, line, path)


@pytest.mark.parametrize("which", ["rsa", "ec256"])
def test_private_key_pem_refused(conf_test, keys, which):
    path = getattr(keys, which + "_private_pem")
    rc, err, line = conf_test("microshop_jwt_key %s;\n" % path,
                              marker=os.path.basename(path))
    assert_refused(rc, err, line, path, "private")


def test_hs_secret_too_short(conf_test, keys):
    path = write(conf_test, "short.secret", b"s" * 31 + b"\n")
    rc, err, line = conf_test("microshop_jwt_key %s alg=HS256;\n" % path,
                              marker="short.secret")
    assert_refused(rc, err, line, path, "short")
    # 48 bytes are fine for HS256 but too short for HS512
    path = write(conf_test, "mid.secret", b"m" * 48)
    rc, err, line = conf_test("microshop_jwt_key %s alg=HS512;\n" % path,
                              marker="mid.secret")
    assert_refused(rc, err, line, path, "short")


def test_hs_secret_needs_alg(conf_test, keys):
    rc, err, line = conf_test("microshop_jwt_key %s;\n" % keys.hs256_file,
                              marker="hs256.secret")
    assert_refused(rc, err, line, keys.hs256_file)


@pytest.mark.parametrize("which", ["rsa_public_pem", "ec256_public_pem"])
def test_hs_alg_with_pem_file_refused(conf_test, keys, which):
    path = getattr(keys, which)
    for alg in ("HS256", "HS512"):
        rc, err, line = conf_test(
            "microshop_jwt_key %s alg=%s;\n" % (path, alg),
            marker=os.path.basename(path))
        assert_refused(rc, err, line, path)


@pytest.mark.parametrize("path_attr,alg", [
    ("rsa_public_pem", "ES256"), ("ec256_public_pem", "RS256"),
    ("ec256_public_pem", "ES384"), ("ec384_public_pem", "ES256"),
    ("rsa_public_pem", "none"), ("rsa_public_pem", "PS256")])
def test_key_with_wrong_alg_refused(conf_test, keys, path_attr, alg):
    path = getattr(keys, path_attr)
    rc, err, line = conf_test("microshop_jwt_key %s alg=%s;\n" % (path, alg),
                              marker=os.path.basename(path))
    assert_refused(rc, err, line, path, alg)


def _jwks_with(keys, **changes):
    doc = json.loads(json.dumps(keys.jwks))
    for kid, members in changes.items():
        for jwk in doc["keys"]:
            if jwk["kid"] == kid.replace("_", "-"):
                jwk.update(members)
    return json.dumps(doc)


@pytest.mark.parametrize("kid,member", [("rsa_jwks", "d"), ("rsa_jwks", "p"),
                                        ("ec_jwks", "d")])
def test_jwks_with_private_member_refused(conf_test, keys, kid, member):
    path = write(conf_test, "private-%s-%s.json" % (kid, member),
                 _jwks_with(keys, **{kid: {member: b64url(b"\1" * 32)}}))
    rc, err, line = conf_test("microshop_jwt_jwks %s;\n" % path,
                              marker=os.path.basename(path))
    assert_refused(rc, err, line, path, '"%s"' % member)


def test_jwks_duplicate_kid_refused(conf_test, keys):
    doc = json.loads(json.dumps(keys.jwks))
    doc["keys"][1]["kid"] = doc["keys"][0]["kid"]
    path = write(conf_test, "dup-kid.json", json.dumps(doc))
    rc, err, line = conf_test("microshop_jwt_jwks %s;\n" % path,
                              marker="dup-kid.json")
    assert_refused(rc, err, line, path, "rsa-jwks")


def test_duplicate_kid_across_directives_refused(conf_test, keys):
    rc, err, line = conf_test(
        "microshop_jwt_key %s kid=same;\n"
        "microshop_jwt_key %s kid=same; # second\n"
        % (keys.rsa_public_pem, keys.ec256_public_pem), marker="# second")
    assert_refused(rc, err, line, keys.ec256_public_pem, "same")
    rc, err, line = conf_test(
        "microshop_jwt_key %s kid=rsa-jwks;\n"
        "microshop_jwt_jwks %s;\n"
        % (keys.ec256_public_pem, keys.jwks_file), marker="jwks.json")
    assert_refused(rc, err, line, keys.jwks_file, "rsa-jwks")


def test_jwks_without_alg_or_bad_json_refused(conf_test, keys):
    doc = json.loads(json.dumps(keys.jwks))
    del doc["keys"][2]["alg"]
    path = write(conf_test, "no-alg.json", json.dumps(doc))
    rc, err, line = conf_test("microshop_jwt_jwks %s;\n" % path,
                              marker="no-alg.json")
    assert_refused(rc, err, line, path)
    path = write(conf_test, "bad.json", '{"keys": [')
    rc, err, line = conf_test("microshop_jwt_jwks %s;\n" % path,
                              marker="bad.json")
    assert_refused(rc, err, line, path)


def test_auth_on_without_any_key_refused(conf_test):
    rc, err, _ = conf_test("", auth="on")
    assert rc != 0 and "[emerg]" in err, err
    assert "microshop_auth" in err and "-t/conf/nginx.conf:" in err, err


def test_auth_on_without_any_key_names_its_line(conf_test):
    """The message points at the `microshop_auth on` line, not at the end
    of the http block (with many locations the operator must find it)."""
    rc, err, line = conf_test("", auth="on", marker="microshop_auth on")
    assert_refused(rc, err, line, "microshop_auth")


def test_auth_off_without_key_is_fine(conf_test):
    rc, err, _ = conf_test("", auth="off")
    assert rc == 0, err


@pytest.mark.parametrize("methods", ["FETCH", "GET,FETCH", "get",
                                     "GET,,POST"])
def test_unknown_method_in_require_scope(conf_test, keys, methods):
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_require_scope %s inventory:read;\n"
        % (keys.ec256_public_pem, methods),
        marker="microshop_require_scope")
    assert_refused(rc, err, line, '"%s"' % methods)


def test_trailing_comma_in_require_scope_methods(conf_test, keys):
    """`microshop_require_scope GET, POST orders:write;` is a typo nginx
    splits into "GET," and scopes "POST orders:write": GET would then need
    a scope named POST and POST would be left uncovered.  An empty method
    is refused for "GET,,POST"; it must be for "GET," too."""
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_require_scope GET, POST orders:write;\n"
        % keys.ec256_public_pem, marker="microshop_require_scope")
    assert_refused(rc, err, line, '"GET,"')


def test_bad_scope_in_require_scope(conf_test, keys):
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_require_scope GET 'inv\"entory';\n"
        % keys.ec256_public_pem, marker="microshop_require_scope")
    assert_refused(rc, err, line, "microshop_require_scope")


@pytest.mark.parametrize("args", ["staff", "staff scopes=a,b",
                                  "staff max_ttl=", "staff max_ttl=0",
                                  "staff max_ttl=soon",
                                  "staff max_ttl=15m scopes=",
                                  "staff max_ttl=15m scopes=a,,b",
                                  "staff max_ttl=15m colour=blue"])
def test_bad_token_class(conf_test, keys, args):
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_token_class %s;\n" % (keys.ec256_public_pem, args),
        marker="microshop_token_class")
    assert_refused(rc, err, line, "")


def test_duplicate_token_class(conf_test, keys):
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_token_class staff max_ttl=15m;\n"
        "microshop_token_class staff max_ttl=1h; # again\n"
        % keys.ec256_public_pem, marker="# again")
    assert_refused(rc, err, line, "staff")


@pytest.mark.parametrize("value", ["abc", "2h", "-5s", "30 s", "1y"])
def test_bad_leeway(conf_test, keys, value):
    rc, err, line = conf_test(
        "microshop_jwt_key %s;\n"
        "microshop_jwt_leeway '%s';\n" % (keys.ec256_public_pem, value),
        marker="microshop_jwt_leeway")
    assert_refused(rc, err, line, "leeway")


def test_bad_key_parameters(conf_test, keys):
    for params in ("kid=", "alg=", "colour=red", "alg=HS257"):
        rc, err, line = conf_test(
            "microshop_jwt_key %s %s;\n" % (keys.ec256_public_pem, params),
            marker="microshop_jwt_key")
        assert_refused(rc, err, line)


def test_bad_claims_directive(conf_test, keys):
    for params in ("seller=", "colour=red", "seller=a seller=b"):
        rc, err, line = conf_test(
            "microshop_jwt_key %s;\n"
            "microshop_jwt_claims %s;\n" % (keys.ec256_public_pem, params),
            marker="microshop_jwt_claims")
        assert_refused(rc, err, line, params.split()[-1])
