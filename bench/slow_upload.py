#!/usr/bin/env python3
"""Memory attack on a Verity node (not a test; run by bench/node_slow_upload.sh).

  python3 bench/slow_upload.py PID URL slow   N MB SECONDS   N uploads of MB each, spread over SECONDS
  python3 bench/slow_upload.py PID URL burst  N MB           N uploads of MB each, as fast as loopback goes

Every upload is POST /v1/audit with a declared Content-Length and a body of one big JSON
array (the node buffers it, then answers 400: no receipt). While the uploads run, the
node's resident memory (VmRSS of PID) and the latency of GET /health are sampled. Loopback
only; every socket has a timeout and the whole run is bounded by SECONDS + 60 s.
"""
import socket
import sys
import threading
import time
import urllib.parse

pid, url, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n, mb = int(sys.argv[4]), float(sys.argv[5])
seconds = float(sys.argv[6]) if mode == "slow" else 0.0
host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
size = int(mb * 1_000_000)
deadline = time.monotonic() + seconds + 60


def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


statuses = {}
lock = threading.Lock()


def upload(k):
    head = f"POST /v1/audit HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    prefix = b'{"input": ['
    body_chunk = b"0," * 32768  # 64 KiB
    status = "no answer"
    try:
        s = socket.create_connection((host, port), timeout=seconds + 30)
        s.sendall(head.encode() + prefix)
        sent = len(prefix)
        chunks = max(1, (size - sent - 2) // len(body_chunk))
        pause = seconds / chunks if seconds else 0.0
        start = time.monotonic()
        for i in range(chunks):
            s.sendall(body_chunk)
            sent += len(body_chunk)
            if pause:
                # Pace to the schedule, not a fixed sleep, so the upload takes SECONDS.
                ahead = start + (i + 1) * pause - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            if time.monotonic() > deadline:
                break
        s.sendall(b"0" * (size - sent - 1) + b"]")
        s.settimeout(60)
        answer = s.recv(200).decode(errors="replace")
        status = answer.split(" ")[1] if answer.startswith("HTTP/") else "no answer"
    except (ConnectionError, socket.timeout, OSError) as e:
        # A node that refuses from the headers answers 503 and may close while we still send.
        try:
            answer = s.recv(200).decode(errors="replace")
            status = answer.split(" ")[1] if answer.startswith("HTTP/") else type(e).__name__
        except Exception:
            status = type(e).__name__
    with lock:
        statuses[status] = statuses.get(status, 0) + 1


def health_ms():
    t = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        s.recv(200)
        s.close()
    except OSError:
        return float("inf")
    return (time.monotonic() - t) * 1000


base_rss = rss_mb()
base_health = sorted(health_ms() for _ in range(5))[2]
threads = [threading.Thread(target=upload, args=(k,), daemon=True) for k in range(n)]
for t in threads:
    t.start()
peak, worst_health, samples = base_rss, 0.0, 0
while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
    peak = max(peak, rss_mb())
    worst_health = max(worst_health, health_ms())
    samples += 1
    time.sleep(0.2)
for t in threads:
    t.join(timeout=max(0.0, deadline - time.monotonic()))
print(
    f"{mode}: {n} x {mb:g} MB: RSS before {base_rss:.0f} MB, peak {peak:.0f} MB; "
    f"/health {base_health:.1f} ms before, worst {worst_health:.1f} ms during ({samples} samples); answers {dict(sorted(statuses.items()))}"
)
