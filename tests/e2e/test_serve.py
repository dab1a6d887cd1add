"""`hongyan serve` as a user runs it: a real process, real sockets, the README's curl line, a GBK client."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support import free_port, read_response

BIN = Path(sys.executable).parent


@pytest.fixture
def served(tmp_path, database_url):
    port = free_port()
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": database_url,
        "HONGYAN_VAR_DIR": str(tmp_path),
        "HONGYAN_SECRET_KEY": "e2e",
        "HONGYAN_PORT": str(port),
        "HONGYAN_LOG_LEVEL": "warning",
    }
    demo = subprocess.run(
        [BIN / "hongyan", "demo", "--no-serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert demo.returncode == 0, demo.stderr
    curl = next(line for line in demo.stdout.splitlines() if line.startswith("curl "))
    proc = subprocess.Popen(
        [BIN / "hongyan", "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
    yield port, curl
    proc.terminate()
    proc.wait(10)


def test_readme_curl_line_sends(served) -> None:
    port, curl = served
    args = shlex.split(curl)
    assert args[0] == "curl"
    url = args[2]
    assert url == f"http://127.0.0.1:{port}/webservice/sms.php?method=Submit"
    form = dict(a.split("=", 1) for a in args[3:] if a != "--data-urlencode")
    r = httpx.post(url, data=form, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.text.startswith(
        '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
        "<code>2</code>\n<msg>提交成功</msg>\n<smsid>"
    )
    balance = httpx.get(
        f"http://127.0.0.1:{port}/webservice/sms.php",
        params={"method": "GetNum", "account": form["account"], "password": form["password"], "format": "json"},
        timeout=10,
    )
    assert balance.text == '{"code":2,"msg":"查询成功","num":9999}'


def test_gbk_demo_client_over_raw_socket(served) -> None:
    """The vendor's Java demo: GBK percent-escapes, no charset, bare LF head; the C demo: raw GBK in a GET."""
    port, curl = served
    form = dict(a.split("=", 1) for a in shlex.split(curl)[3:] if a != "--data-urlencode")
    content = form["content"]
    body = (
        f"account={form['account']}&password={form['password']}&mobile=13800138000&content="
        f"{quote(content, encoding='gbk')}"
    ).encode()
    head = (
        f"POST /webservice/sms.php?method=Submit HTTP/1.1\nHost: 106.ihuyi.com\n"
        f"Content-Type: application/x-www-form-urlencoded\nContent-Length: {len(body)}\n\n"
    ).encode()
    raw_get = (
        f"GET /webservice/sms.php?method=Submit&format=json&account={form['account']}"
        f"&password={form['password']}&mobile=13800138001&content={content} HTTP/1.0\r\n\r\n"
    ).encode("gbk")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        status, _headers, payload = read_response(sock, bytearray())
    assert status == 200 and b"<code>2</code>" in payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw_get)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert b'{"code":2,"msg":"' in data and data.split(b"\r\n\r\n", 1)[1].startswith(b'{"code":2')


def test_make_run_delivers_through_the_simulators(tmp_path, database_url) -> None:
    """What `make run` starts: the demo account, two simulators as channels, the API with its workers."""
    port = free_port()
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": database_url,
        "HONGYAN_VAR_DIR": str(tmp_path),
        "HONGYAN_SECRET_KEY": "e2e",
        "HONGYAN_PORT": str(port),
        "HONGYAN_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [BIN / "hongyan", "demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        curl = None
        deadline = time.monotonic() + 60
        while curl is None:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "demo exited"
            if line.startswith("curl "):
                curl = line.strip()
            assert time.monotonic() < deadline
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        args = shlex.split(curl)
        form = dict(a.split("=", 1) for a in args[3:] if a != "--data-urlencode")
        r = httpx.post(args[2] + "&format=json", data=form, timeout=10)
        smsid = r.json()["smsid"]
        auth = {"authorization": f"Bearer {form['account']}:{form['password']}"}
        while True:
            state = httpx.get(f"http://127.0.0.1:{port}/v2/messages/{smsid}", headers=auth, timeout=10).json()
            if state["state"] in ("delivered", "undelivered"):
                break
            assert time.monotonic() < deadline + 30, state
            time.sleep(0.1)
        assert state["carrier_status"] in ("DELIVRD", "UNDELIV", "R:00702")
        # Delivery ran in serve's worker child; its metrics show in the API's /metrics all the same.
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        submitted = r'\nhongyan_channel_submits_total\{channel="sim-(primary|backup)",outcome="ok"\} 1\.0\n'
        assert re.search(submitted, metrics), metrics
    finally:
        proc.terminate()
        proc.wait(20)


def _worker_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    kids = []
    for kid in map(int, out):
        try:
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"worker" in cmdline and _alive(kid):
            kids.append(kid)
    return kids


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _wait_for(cond, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return value


def test_serve_restarts_its_worker_process_and_stops_it(served) -> None:
    """`serve` runs delivery in a `hongyan worker all` child: started again if it dies, stopped with serve."""
    port, _curl = served
    serve_pid = next(
        int(p)
        for p in subprocess.run(["pgrep", "-f", "hongyan serve"], capture_output=True, text=True).stdout.split()
        if _listens(int(p), port)
    )
    [first] = _wait_for(lambda: _worker_children(serve_pid))
    os.kill(first, 9)
    [second] = _wait_for(lambda: [k for k in _worker_children(serve_pid) if k != first])
    os.kill(serve_pid, 15)
    _wait_for(lambda: not _alive(serve_pid) and not _alive(second))


def _listens(pid: int, port: int) -> bool:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return f"pid={pid}," in out


def test_worker_process_stops_when_serve_dies(tmp_path, database_url) -> None:
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": database_url,
        "HONGYAN_VAR_DIR": str(tmp_path),
        "HONGYAN_SECRET_KEY": "e2e",
        "HONGYAN_PORT": str(free_port()),
        "HONGYAN_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([BIN / "hongyan", "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        [child] = _wait_for(lambda: _worker_children(proc.pid))
        proc.kill()  # no chance to stop its child
        proc.wait(10)
        _wait_for(lambda: not _alive(child), timeout=15)  # it noticed and stopped on its own
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
