"""`make run`'s demo: conf.example with the reference backend, started by
scripts/run-demo exactly as a newcomer would, then used through curl-like
requests."""

import json
import os
import subprocess

import pytest
import requests

from microshop import port_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "scripts", "run-demo")
GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def demo():
    if port_open(8080) or port_open(8081):
        pytest.fail("ports 8080/8081 are taken: stop what runs there "
                    "(make stop) before the demo test")
    # run/logs/error.log outlives a run: only what this one writes counts
    log = os.path.join(ROOT, "run", "logs", "error.log")
    offset = os.path.getsize(log) if os.path.exists(log) else 0
    out = subprocess.run([DEMO, "start"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    yield out.stdout
    subprocess.run([DEMO, "stop"], cwd=ROOT, timeout=60)
    with open(log) as f:
        f.seek(offset)
        bad = [l for l in f if "[alert]" in l or "[emerg]" in l
               or "[crit]" in l or "exited on signal" in l]
    assert not bad, bad


def token(name):
    with open(os.path.join(ROOT, "run", name + ".token")) as f:
        return f.read().strip()


def test_demo_prints_how_to_try_it(demo):
    assert "curl" in demo and "Authorization: Bearer" in demo


def test_a_request_through_the_gateway_reaches_the_backend(demo):
    s = requests.Session()
    s.trust_env = False
    h = {"Authorization": "Bearer " + token("seller")}
    r = s.get(GATEWAY + "/v1/sellers/s1/inventory/A1", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["sku"] == "A1"
    assert "RateLimit" in r.headers
    stats = s.get("http://127.0.0.1:8081/__backend/stats").json()
    assert stats["by_route"]["GET /v1/sellers/s1/inventory/A1"] == 1

    assert s.get(GATEWAY + "/v1/sellers/s1/inventory/A1").status_code == 401
    assert s.get(GATEWAY + "/v1/sellers/s2/inventory/A1",
                 headers=h).status_code == 403


def test_a_drop_through_the_demo(demo):
    s = requests.Session()
    s.trust_env = False
    admin = {"Authorization": "Bearer " + token("admin")}
    r = s.put(GATEWAY + "/microshop/admin/stock/s1/B2", headers=admin,
              data=json.dumps({"available": 1}))
    assert r.status_code == 204, r.text
    h = {"Authorization": "Bearer " + token("seller"),
         "Content-Type": "application/json"}
    order = json.dumps({"items": [{"sku": "B2", "quantity": 1}]})
    first = s.post(GATEWAY + "/v1/sellers/s1/checkout", headers=h,
                   data=order)
    assert first.status_code == 201, first.text
    second = s.post(GATEWAY + "/v1/sellers/s1/checkout", headers=h,
                    data=order)
    assert second.status_code == 409
    assert second.json()["type"] == "urn:problem:microshop:out-of-stock"
    assert "microshop_requests_total" in s.get(
        GATEWAY + "/microshop/status").text


def test_a_staff_lead_hands_out_a_helper_token(demo):
    s = requests.Session()
    s.trust_env = False
    r = s.post(GATEWAY + "/oauth/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token("lead"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:"
                              "access_token",
        "scope": "inventory:read", "actor": "Ann Lee"})
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 600 and r.json()["scope"] == \
        "inventory:read"
    h = {"Authorization": "Bearer " + r.json()["access_token"]}
    assert s.get(GATEWAY + "/v1/sellers/s1/inventory/A1",
                 headers=h).status_code == 200
    # the helper's token cannot check out
    r = s.post(GATEWAY + "/v1/sellers/s1/checkout", headers=h,
               json={"items": [{"sku": "A1", "quantity": 1}]})
    assert r.status_code == 403


def test_the_gateway_publishes_its_signing_key(demo):
    s = requests.Session()
    s.trust_env = False
    r = s.get(GATEWAY + "/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/jwk-set+json"
    assert [(k["kid"], k["alg"], k["crv"]) for k in r.json()["keys"]] == [
        ("demo-gateway", "ES256", "P-256")]
