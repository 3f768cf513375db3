"""The web app refuses other pages and names (CSRF, DNS rebinding), non-JSON posts and
oversized bodies before reading them, runs beyond its budget, and says nosniff; a real
``cordsim serve`` refuses a cross-origin POST and warns when it listens beyond this machine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import warnings

import pytest

pytest.importorskip("fastapi", reason="the web app needs the 'app' extra")
pytest.importorskip("httpx", reason="the API tests need httpx (the 'test' extra)")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from cordsim.app.server import allowed_hosts, check_request, create_app

SMALL = {"name": "x", "days": 3, "arms": [{"name": "vehicle"}]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(port=8000), base_url="http://127.0.0.1:8000") as c:
        yield c


def test_a_cross_origin_post_is_refused_and_starts_no_run(client):
    """A page on another site could POST a text/plain 'simple request' (no preflight)."""
    for headers in ({"Content-Type": "text/plain", "Origin": "http://evil.example"},
                    {"Content-Type": "application/json", "Origin": "http://evil.example"},
                    {"Content-Type": "application/json", "Origin": "null"},
                    {"Content-Type": "application/json",
                     "Origin": "http://127.0.0.1:9999"}):  # another local port: another site
        r = client.post("/api/run", content=json.dumps(SMALL), headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert "another page" in r.json()["error"]
    assert not client.app.state.cordsim.runs  # nothing ran
    ok = client.post("/api/scenario.toml", json=SMALL,
                     headers={"Origin": "http://127.0.0.1:8000"})  # the app's own page
    assert ok.status_code == 200, ok.text


def test_a_host_the_app_is_not_bound_to_is_refused(client):
    """DNS rebinding: evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    for host in ("evil.example", "evil.example:8000", "127.0.0.1:8001", "10.0.0.1:8000"):
        r = client.get("/api/options", headers={"Host": host})
        assert r.status_code == 403, host
        assert "not the address this app listens on" in r.json()["error"]
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_a_post_must_declare_json(client):
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""):
        r = client.post("/api/run", content=json.dumps(SMALL), headers={"Content-Type": kind})
        assert r.status_code == 415, kind
        assert "application/json" in r.json()["error"]
    r = client.post("/api/scenario.toml", content=json.dumps(SMALL),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_a_large_body_is_refused_without_reading_it(client):
    """The body was read whole before the 256 kB limit answered: 1 GB of RSS for 1 GB."""
    import asyncio

    from cordsim.app.server import BadInput, read_body

    read = []

    class Streamed:  # a request whose body arrives in pieces (10 GB if all were read)
        headers: dict[str, str] = {}

        async def stream(self):
            for _ in range(10_000):
                read.append(1)
                yield b" " * 1_000_000

    with pytest.raises(BadInput, match="more than 262,144 bytes"):
        asyncio.run(read_body(Streamed()))
    assert len(read) == 1  # refused with the first piece beyond the limit
    r = client.post("/api/run", content=b"{}", headers={
        "Content-Type": "application/json", "Content-Length": str(10**9)})
    assert r.status_code == 413 and "1,000,000,000 bytes" in r.json()["error"]


def test_downloads_say_nosniff(client):
    r = client.post("/api/run", json=SMALL)
    assert r.status_code == 200, r.text
    for name, url in r.json()["files"].items():
        got = client.get("/" + url)
        assert got.headers["x-content-type-options"] == "nosniff", name
    assert client.get("/").headers["x-content-type-options"] == "nosniff"


def test_a_control_character_in_a_name_is_a_400_not_a_500(client):
    r = client.post("/api/run", json={"days": 3, "arms": [{"name": "x\u0000y"}]})
    assert r.status_code == 400, r.text
    assert "arms[0].name: control character U+0000" in r.json()["error"]


def test_a_run_beyond_the_budget_is_refused_before_it_runs():
    """50 arms x 3650 days every 0.0365 day needed more than 11 GB (then crashed)."""
    big = {"days": 3650, "dt": 0.0365, "arms": [{"name": f"a{i}"} for i in range(50)]}
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        start = time.monotonic()
        r = c.post("/api/run", json=big)
        assert r.status_code == 400, r.text
        assert "beyond the limit of 2 GB" in r.json()["error"]
        assert time.monotonic() - start < 30
        assert "the web app's budget per run" in r.json()["error"]
        assert not c.app.state.cordsim.runs
    with TestClient(create_app(run_seconds=5), base_url="http://127.0.0.1") as c:
        r = c.post("/api/run", json=SMALL)  # every run is estimated at 10 s at least
        assert r.status_code == 400 and "budget of 5 s per run" in r.json()["error"]
        assert not c.app.state.cordsim.runs


def test_allowed_hosts_follow_the_bound_address():
    assert allowed_hosts("127.0.0.1") >= {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts("::1") >= {"[::1]", "localhost"}
    assert allowed_hosts("192.168.1.5") == {"192.168.1.5"}
    assert allowed_hosts("0.0.0.0") is None  # every interface: names unknown (warned)
    check_request("GET", {"host": "anything:80"}, None, 80)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(*args):
    return subprocess.Popen([sys.executable, "-c", "import sys; from cordsim.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(url, proc):
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("cordsim serve did not answer within 60 s")


def _stop(proc):
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def test_cordsim_serve_refuses_a_cross_origin_post_and_a_1_gb_body_unread():
    import httpx

    port = _free_port()
    proc = _serve("--port", str(port))
    try:
        _wait(f"http://127.0.0.1:{port}/api/health", proc)
        r = httpx.post(f"http://127.0.0.1:{port}/api/run", content=json.dumps(SMALL),
                       headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
                       timeout=60)
        assert r.status_code == 403
        # a 1 GB body announced: answered after the headers and 1 MB, not after 1 GB
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "Content-Type: application/json\r\nContent-Length: 1073741824\r\n"
                         "\r\n".encode() + b" " * 1_000_000)
            assert b" 413 " in sock.recv(200)
    finally:
        _, err = _stop(proc)
    assert "warning" not in err  # loopback: nothing to warn about


def test_cordsim_serve_warns_when_it_listens_beyond_this_machine():
    port = _free_port()
    proc = _serve("--host", "0.0.0.0", "--port", str(port))
    try:
        _wait(f"http://127.0.0.1:{port}/api/health", proc)
    finally:
        _, err = _stop(proc)
    assert "warning: the web app listens on 0.0.0.0" in err
