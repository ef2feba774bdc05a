#!/usr/bin/env python3
"""Login load for the e2e tests: real TLS clients from many loopback source addresses.

    login_load.py flood  PORT SECONDS SENDERS FIRST_ADDR COUNT USER:PASSWORD
    login_load.py timing PORT SAMPLES FIRST_ADDR COUNT NAME=USER:PASSWORD ...

flood: SENDERS threads log in as unknown users (a new made-up name each time) from COUNT
source addresses starting at FIRST_ADDR, in turn (each address fails at most 5 times, the
throttle's free failures; answers other than 401 are not failures), while one client logs in
as USER:PASSWORD from 127.0.0.1 once a second. Prints one
JSON line: the legitimate logins' statuses and latencies, and how many flood requests ran.

timing: for each NAME=USER:PASSWORD, SAMPLES failed logins, one after the other; the categories
run side by side, each request from the next source address. In USER, {i} becomes the sample
number modulo 8, so that no user name is refused more often than the throttle allows. Prints
one JSON line with every status and latency by name.

Addresses come from 127.0.0.0/8, which Linux routes to loopback without configuration.
"""
import base64
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def login(port, source, user, password, timeout=10.0):
    """One GET /apikey on a new TLS connection from `source`; (status, seconds)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = (
        f"GET /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    start = time.monotonic()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        with CTX.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(req)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    finally:
        raw.close()
    return status, time.monotonic() - start


def addresses(first, count):
    base = ipaddress.IPv4Address(first)
    return [str(base + i) for i in range(count)]


def flood(port, seconds, senders, first, count, legit):
    user, password = legit.split(":", 1)
    # Each address may fail 5 times (the throttle's free failures); only a 401 is a failure.
    budget = {a: 5 for a in addresses(first, count)}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counts = {"flood_requests": 0, "flood_statuses": {}}
    turn = [0]

    def next_source():
        with lock:
            live = [a for a, b in budget.items() if b > 0]
            if not live:
                return None
            turn[0] += 1
            return live[turn[0] % len(live)]

    def sender(n):
        i = 0
        while time.monotonic() < stop:
            src = next_source()
            if src is None:
                return
            status, _ = login(port, src, f"ghost-{n}-{i}", "guess")
            i += 1
            with lock:
                if status == 401:
                    budget[src] -= 1
                counts["flood_requests"] += 1
                key = str(status)
                counts["flood_statuses"][key] = counts["flood_statuses"].get(key, 0) + 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    # Let the flood reach its steady state before the first legitimate login.
    time.sleep(1.0)
    legit_results = []
    next_at = time.monotonic()
    while time.monotonic() < stop:
        status, took = login(port, "127.0.0.1", user, password)
        legit_results.append({"status": status, "seconds": took})
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))
    for t in threads:
        t.join()
    counts["failures_left"] = sum(budget.values())
    counts["legit"] = legit_results
    print(json.dumps(counts))


def timing(port, samples, first, count, specs):
    cats = []
    for spec in specs:
        name, cred = spec.split("=", 1)
        user, password = cred.split(":", 1)
        cats.append((name, user, password))
    srcs = addresses(first, count)
    lock = threading.Lock()
    used = [0]
    out = {name: [] for name, _, _ in cats}

    def next_source():
        # Each address fails at most 5 times: the throttle's free failures.
        with lock:
            k = used[0]
            used[0] += 1
        return srcs[(k // 5) % len(srcs)]

    def run(name, user, password):
        for i in range(samples):
            # Eight names in turn: no name fails more than the per-user allowance.
            status, took = login(port, next_source(), user.replace("{i}", str(i % 8)), password)
            out[name].append({"status": status, "seconds": took})

    threads = [threading.Thread(target=run, args=c) for c in cats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


def main(argv):
    mode = argv[1]
    if mode == "flood":
        flood(int(argv[2]), float(argv[3]), int(argv[4]), argv[5], int(argv[6]), argv[7])
    elif mode == "timing":
        timing(int(argv[2]), int(argv[3]), argv[4], int(argv[5]), argv[6:])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
