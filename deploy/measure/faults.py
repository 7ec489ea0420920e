#!/usr/bin/env python3
"""Measures how `crefl serve` behaves under the faults in docs/operations.md.

Usage: python3 deploy/measure/faults.py [path/to/crefl]   (default: target/release/crefl)

Everything runs on 127.0.0.1, with loops bounded in count and time; nothing leaves the
machine. Standard library only. Prints one line per figure.
"""

import base64
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CREFL = sys.argv[1] if len(sys.argv) > 1 else "target/release/crefl"


def start(*args):
    proc = subprocess.Popen(
        [CREFL, "serve", "--bind", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://"), line
    return proc, line.removeprefix("listening on http://")


def post(addr, body):
    req = urllib.request.Request(
        f"http://{addr}/v1/update",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def get(addr, path):
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=10) as r:
        return json.loads(r.read())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def state(i):
    return {"novelty": 0.9 if i % 250 == 0 else 0.5, "aesthetic_score": 0.6}


def kill9_loss():
    """Steps lost when the process is killed at a random point, at the default interval."""
    d = tempfile.mkdtemp()
    try:
        proc, addr = start("--state-dir", d)
        sent = 2_700
        for i in range(sent):
            post(addr, state(i))
        time.sleep(1)  # the writer runs on its own thread; give it its usual chance
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, addr = start("--state-dir", d)
        resumed = get(addr, "/v1/metrics")["steps"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        print(f"kill -9 after {sent} steps (--snapshot-every 1000): resumed at {resumed}, "
              f"{sent - resumed} steps lost")
    finally:
        shutil.rmtree(d)


def sigterm_with_stuck_clients():
    """Time from SIGTERM to exit with a half-sent request and a stalled WebSocket client."""
    d = tempfile.mkdtemp()
    try:
        proc, addr = start("--state-dir", d)
        for i in range(100):
            post(addr, state(i))
        host, port = addr.split(":")
        half = socket.create_connection((host, int(port)))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        ws = websocket_client(host, int(port))
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        took = time.monotonic() - t0
        err = proc.stderr.read()
        saved = "state saved" in err
        print(f"SIGTERM with a half-sent request and a stalled WebSocket client: exit "
              f"{proc.returncode} after {took:.2f} s (--shutdown-timeout 10), snapshot saved: "
              f"{saved}")
        half.close()
        ws.close()
    finally:
        shutil.rmtree(d)


def websocket_client(host, port):
    """A WebSocket client that completes the handshake and then never reads."""
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /v1/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def idle_connections_rss():
    """RSS with 1,000 idle connections and 100 stalled WebSocket clients while updates flow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    proc, addr = start("--max-connections", "2000", "--header-timeout", "600")
    host, port = addr.split(":")
    for i in range(200):
        post(addr, state(i))
    base = rss_kib(proc.pid)
    idle = [socket.create_connection((host, int(port))) for _ in range(1_000)]
    stalled = [websocket_client(host, int(port)) for _ in range(100)]
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 10 and n < 20_000:
        post(addr, state(n))
        n += 1
    peak = rss_kib(proc.pid)
    h = get(addr, "/health/creativity")
    health = h["status"] + (f": {h['reason']}" if h.get("reason") else "")
    print(f"RSS: {base / 1024:.1f} MiB at rest, {peak / 1024:.1f} MiB with 1,000 idle "
          f"connections and 100 stalled WebSocket clients after {n} more updates "
          f"(health {health})")
    for s in idle + stalled:
        s.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def slowloris():
    """Connections over the cap are refused at once; idle ones are closed at the deadline."""
    proc, addr = start("--max-connections", "50", "--header-timeout", "2")
    host, port = addr.split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(50)]
    time.sleep(0.5)
    extra = socket.create_connection((host, int(port)))
    extra.settimeout(5)
    answer = extra.recv(100).split(b"\r\n")[0].decode()
    t0 = time.monotonic()
    closed = 0
    for s in held:
        s.settimeout(30)
        if s.recv(100) == b"":
            closed += 1
    took = time.monotonic() - t0
    ok = post(addr, state(1))
    print(f"slowloris: connection 51 answered {answer!r}; the 50 idle ones closed "
          f"{closed}/50 within {took:.1f} s (--header-timeout 2); then an update got {ok}")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def descriptor_exhaustion():
    """Under a 256-descriptor limit, 400 idle connections do not starve real requests."""
    proc = subprocess.Popen(
        ["prlimit", "--nofile=256:256", CREFL, "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    addr = line.removeprefix("listening on http://")
    host, port = addr.split(":")
    idle = []
    for _ in range(400):
        try:
            idle.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            break
    time.sleep(0.5)
    t0 = time.monotonic()
    answers = []
    for i in range(20):
        try:
            answers.append(post(addr, state(i)))
        except Exception as e:  # a 503 is an answer too
            answers.append(getattr(e, "code", type(e).__name__))
    took = time.monotonic() - t0
    print(f"--nofile 256 with {len(idle)} idle connections: 20 updates answered "
          f"{sorted(set(map(str, answers)))} in {took:.2f} s")
    for s in idle:
        s.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    warning = [l for l in proc.stderr.read().splitlines() if "max-connections" in l]
    print("  " + (warning[0] if warning else "no warning"))


if __name__ == "__main__":
    kill9_loss()
    sigterm_with_stuck_clients()
    slowloris()
    idle_connections_rss()
    descriptor_exhaustion()
