#!/usr/bin/env python3
"""Helpers for bench/run.sh (python3 standard library only).

  helper.py wrk LABEL PIDS WRK-ARGS...       -> runs wrk; BENCH lines (keys/s, p50, p99,
                                               errors, CPU per request of the server
                                               processes PIDS (comma-separated) and of wrk)
  helper.py get-key HOST PORT               -> prints one API key (GET /apikey)
  helper.py memory LABEL BIN CONFIG N       -> startup to first key, RSS idle, RSS with N
                                               idle TLS keep-alive connections (BENCH lines)
  helper.py propagation LABEL A_PORT B_VAL_PORT N
                                            -> issue on A, revoke on A, poll B's /validate
                                               until 401; p50/p99 ms from the 200 to the 401
  helper.py revoke-rate LABEL PORT THREADS SECS
                                            -> revocations/s by jti (JSON), THREADS writers
  helper.py report RESULTS                  -> the results table (markdown)
"""

import os
import re
import socket
import ssl
import subprocess
import sys
import time

AUTH = "Basic YWRtaW46YWRtaW4="  # admin:admin, the bundled dev config


def emit(key, value):
    print(f"BENCH {key} {value}", flush=True)


def cpu_seconds(pids):
    """utime + stime of live processes (comma-separated pids), from /proc."""
    ticks = 0
    for pid in pids.split(","):
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the command name, which may hold spaces: ") state ppid ...".
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(label, server_pids, *wrk_args):
    import resource

    before_server = cpu_seconds(server_pids)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = subprocess.run(["wrk", *wrk_args], capture_output=True, text=True).stdout
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_server = cpu_seconds(server_pids)
    sys.stderr.write(text)
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime
               + after_children.ru_stime - before_children.ru_stime)
    m = re.search(r"^\s*(\d+) requests in", text, re.M)
    if m and int(m.group(1)) > 0:
        n = int(m.group(1))
        emit(f"{label}.server_us", f"{(after_server - before_server) * 1e6 / n:.1f}")
        emit(f"{label}.client_us", f"{wrk_cpu * 1e6 / n:.1f}")
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def ms(s):
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s)
        return float(m.group(1)) * units[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    emit(f"{label}.rps", rps.group(1) if rps else "nan")
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        emit(f"{label}.p{pct}", f"{ms(m.group(1)):.2f}" if m else "nan")
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    emit(f"{label}.errors", errors)


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The bench talks to its own server with the dev certificate.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(sock, path="/apikey"):
    """One keep-alive GET; returns (status, body)."""
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH}\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response body")
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def exchange(sock, method, path, headers="", body=b""):
    """One keep-alive request with `headers` (full lines) and `body`; returns (status, body)."""
    sock.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response body")
        rest += chunk
    return int(head.split(b" ", 2)[1]), rest


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def propagation(label, a_port, b_val_port, n):
    """Milliseconds from the 200 of a revocation on A to the first 401 for that key on B."""
    a = connect(tls_context(), "127.0.0.1", int(a_port))
    b = socket.create_connection(("127.0.0.1", int(b_val_port)))
    auth = f"Authorization: {AUTH}\r\n"
    lat = []
    for _ in range(int(n)):
        status, key = exchange(a, "GET", "/apikey", auth)
        if status != 200:
            sys.exit(f"GET /apikey answered {status}")
        key = key.decode()
        status, _ = exchange(b, "GET", "/validate", f"apikey: {key}\r\n")
        if status != 200:
            sys.exit(f"B answered {status} before the revocation")
        form = f"token={key}".encode()
        status, _ = exchange(a, "POST", "/apikey/revoke",
                             auth + "Content-Type: application/x-www-form-urlencoded\r\n", form)
        if status != 200:
            sys.exit(f"revoke answered {status}")
        t0 = time.perf_counter()
        while exchange(b, "GET", "/validate", f"apikey: {key}\r\n")[0] != 401:
            if time.perf_counter() - t0 > 10:
                sys.exit("B did not refuse the key within 10 s")
        lat.append((time.perf_counter() - t0) * 1e3)
    emit(f"{label}.p50", f"{percentile(lat, 0.5):.2f}")
    emit(f"{label}.p99", f"{percentile(lat, 0.99):.2f}")


def revoke_rate(label, port, threads, secs):
    """Revocations/s by jti (admin, JSON body) from THREADS keep-alive connections."""
    import threading

    threads, secs = int(threads), float(secs)
    done, errors = [0] * threads, [0] * threads
    deadline = time.perf_counter() + secs
    headers = f"Authorization: {AUTH}\r\nContent-Type: application/json\r\n"

    def writer(t):
        s = connect(tls_context(), "127.0.0.1", int(port))
        i = 0
        while time.perf_counter() < deadline:
            body = f'{{"jti":"bench-{label}-{t}-{i}"}}'.encode()
            i += 1
            try:
                status = exchange(s, "POST", "/apikey/revoke", headers, body)[0]
            except ConnectionError:
                # The server ends a connection after maxRequestsPerConnection (10,000)
                # requests, which one fast writer reaches: go on with a new one.
                s = connect(tls_context(), "127.0.0.1", int(port))
                continue
            if status == 200:
                done[t] += 1
            else:
                errors[t] += 1

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    emit(f"{label}.rps", f"{sum(done) / secs:.1f}")
    emit(f"{label}.errors", sum(errors))


def connect(ctx, host, port):
    raw = socket.create_connection((host, port))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def get_key(host, port):
    with connect(tls_context(), host, int(port)) as s:
        status, body = request(s)
    if status != 200:
        sys.exit(f"GET /apikey answered {status}: {body[:200]!r}")
    print(body.decode())


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(label, binary, config, n):
    n = int(n)
    port = free_port()
    text = open(config).read().replace("httpsPort = 0", f"httpsPort = {port}")
    fixed = config + f".{label}.port"
    with open(fixed, "w") as f:
        f.write(text)
    log = open(config + f".{label}.log", "w")
    ctx = tls_context()
    started = time.perf_counter()
    proc = subprocess.Popen([binary, "--config", fixed], stderr=log, stdout=log)
    try:
        # Startup: exec to the first key received, polling connect every millisecond.
        while True:
            try:
                s = connect(ctx, "127.0.0.1", port)
                break
            except (ConnectionRefusedError, ConnectionResetError):
                if proc.poll() is not None:
                    sys.exit(f"server exited with {proc.returncode}; see {log.name}")
                time.sleep(0.001)
        with s:
            status, _ = request(s)
        startup_ms = (time.perf_counter() - started) * 1e3
        if status != 200:
            sys.exit(f"first key: status {status}")
        emit(f"{label}.startup_ms", f"{startup_ms:.1f}")
        time.sleep(1.0)
        emit(f"{label}.rss_idle_kib", rss_kib(proc.pid))
        conns = []
        failed = 0
        for _ in range(n):
            try:
                c = connect(ctx, "127.0.0.1", port)
                status, _ = request(c)
                failed += status != 200
                conns.append(c)
            except OSError:
                failed += 1
        time.sleep(1.0)
        emit(f"{label}.rss_conns_kib", rss_kib(proc.pid))
        emit(f"{label}.conns_open", len(conns) - failed)
        for c in conns:
            c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def report(path):
    r = {}
    meta = {}
    for line in open(path):
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "BENCH":
            # A commit such as 2e41055 would parse as a float (2e+41055): text keys stay text.
            if parts[1] in ("commit", "date", "columns"):
                meta[parts[1]] = parts[2].strip()
                continue
            try:
                r[parts[1]] = float(parts[2])
            except ValueError:
                meta[parts[1]] = parts[2].strip()

    def g(k):
        return r.get(k, float("nan"))

    cores = int(g("cores")) if "cores" in r else "?"
    out = []
    add = out.append
    add(f"commit {meta.get('commit', '?')}, {meta.get('date', '')}; {cores} cores; "
        f"load before {meta.get('load_before', '?')}, after {meta.get('load_after', '?')}; "
        f"wrk {meta.get('wrk', '?')}")
    add("")
    # The columns bench/run.sh measured (its SIGNERS): one server and one signer each.
    signers = tuple(meta.get("columns", "rsa provider").split())
    add("| measure | " + " | ".join(f"signer = {s}" for s in signers) + " | target |")
    add("| --- | " + "---: | " * len(signers) + "--- |")
    # A cell that holds for every column (in-process TLS, nginx, the validator): shown once.
    def same(cell):
        return [cell] + ["(same)"] * (len(signers) - 1)

    def row(name, cells, target=""):
        add(f"| {name} | " + " | ".join(cells) + f" | {target} |")

    row("1. signatures/s, one core", [f"{g(f'sign.{s}.1'):,.0f}" for s in signers])
    row(f"1. signatures/s, all {cores} cores", [f"{g(f'sign.{s}.all'):,.0f}" for s in signers])
    row("1. one signature, ms", [f"{1e3 / g(f'sign.{s}.1'):.2f}" for s in signers])
    def per_connection(sig_rate, hs_rate):
        """Keys/s when every key costs one signature and one handshake, from their rates."""
        return 1 / (1 / sig_rate + 1 / hs_rate)

    ceiling = {}
    for kind in ("full", "resumed"):
        row(f"1. TLS {kind} handshakes/s (server side), one / all cores",
            same(f"{g(f'tls.{kind}.1'):,.0f} / {g(f'tls.{kind}.all'):,.0f}"))
        for s in signers:
            ceiling[s, kind] = per_connection(g(f"sign.{s}.all"), g(f"tls.{kind}.all"))
    row("1. ceiling: signature + full / resumed handshake, all cores",
        [f"{ceiling[s, 'full']:,.0f} / {ceiling[s, 'resumed']:,.0f}" for s in signers])
    def near(label, key):
        """The ceiling `key` measured right before and after run `label` (their mean), and
        the pair; the first measurement if the run was not bracketed."""
        before, after = g(f"{label}.before.{key}"), g(f"{label}.after.{key}")
        if before != before or after != after:  # NaN: not bracketed
            return g(key), ""
        return (before + after) / 2, f"{before:,.0f} / {after:,.0f}"

    for c in (16, 64):
        lab = {s: f"ka{c}.{s}" for s in signers}
        ceil = {s: near(lab[s], f"sign.{s}.all") for s in signers}
        # CPU time of one signature when every core signs, from the bracketing ceilings.
        sig_us = {s: cores * 1e6 / ceil[s][0] for s in signers}
        # CPU time of one signature (thread CPU time, not wall time: other load on the cores
        # does not inflate it), for the CPU-per-key comparisons.
        sig_cpu = {s: cpu_per_op(g, lab[s], f"sign.{s}.all", cores) for s in signers}
        rps = {s: g(f"{lab[s]}.rps") for s in signers}
        row(f"2. keep-alive keys/s, wrk -t2 -c{c} (ratio to the all-core signatures/s measured "
            "just before / after the run)",
            [f"{rps[s]:,.0f} ({rps[s] / ceil[s][0]:.0%} of {ceil[s][1]})" for s in signers],
            "")
        # Little's law: c requests always in flight, so the mean latency is c / throughput.
        row(f"2. p50 / p99 ms, -c{c}"
            + (" (p99 and the queueing floor c / keys/s, in signatures)" if c == 16 else ""),
            [f"{g(f'{lab[s]}.p50'):.2f} / {g(f'{lab[s]}.p99'):.2f}"
             + (f" ({g(f'{lab[s]}.p99') * 1e3 / sig_us[s]:.1f}x sig; floor "
                f"{c / rps[s] * 1e6 / sig_us[s]:.1f}x)" if c == 16 else "")
             for s in signers],
            "")
        row(f"2. errors, -c{c}", [f"{g(f'{lab[s]}.errors'):.0f}" for s in signers], "0")
        row(f"2. CPU per key, us, -c{c}: server (signature share) / wrk",
            [f"{g(f'{lab[s]}.server_us'):,.0f} ({sig_cpu[s] / g(f'{lab[s]}.server_us'):.0%})"
             f" / {g(f'{lab[s]}.client_us'):,.0f}" for s in signers])
        row(f"2. best ratio possible beside this wrk, -c{c}: sig / (sig + wrk CPU)",
            [f"{sig_cpu[s] / (sig_cpu[s] + g(f'{lab[s]}.client_us')):.0%}" for s in signers])
    row("2. p50 / p99 ms, -c2 (one request per core: no queueing)",
        [f"{g(f'ka2.{s}.p50'):.2f} / {g(f'ka2.{s}.p99'):.2f}"
         f" ({g(f'ka2.{s}.p99') * g(f'sign.{s}.1') / 1e3:.1f}x sig); "
         f"{g(f'ka2.{s}.rps'):,.0f} keys/s; {g(f'ka2.{s}.errors'):.0f} errors"
         for s in signers])

    cells, share, bound = [], [], []
    for s in signers:
        lab = f"close.{s}"
        sig = near(lab, f"sign.{s}.all")[0]
        full = near(lab, "tls.full.all")[0]
        resumed = near(lab, "tls.resumed.all")[0]
        rps = g(f"{lab}.rps")
        cells.append(f"{rps:,.0f} ({rps / per_connection(sig, full):.0%} / "
                     f"{rps / per_connection(sig, resumed):.0%})")
        ideal_us = (cpu_per_op(g, lab, f"sign.{s}.all", cores)
                    + cpu_per_op(g, lab, "tls.resumed.all", cores))
        server_us, client_us = g(f"{lab}.server_us"), g(f"{lab}.client_us")
        share.append(f"{server_us:,.0f} ({ideal_us / server_us:.0%}) / {client_us:,.0f}")
        bound.append(f"{ideal_us / (ideal_us + client_us):.0%}")
    row("3. Connection: close keys/s, wrk -t2 -c16 (ratio to the full / resumed ceiling "
        "measured around the run)", cells)
    row("3. p50 / p99 ms; errors",
        [f"{g(f'close.{s}.p50'):.2f} / {g(f'close.{s}.p99'):.2f}; {g(f'close.{s}.errors'):.0f}"
         for s in signers], "0 errors")
    row("3. CPU per key, us: server (signature + resumed handshake share) / wrk", share)
    row("3. best ratio possible beside this wrk: (sig + hs) / (sig + hs + wrk CPU), resumed",
        bound)
    if "ngx.close.rps" in r:
        row("3. reference: nginx + OpenSSL, static 900-byte file (no signature), same wrk -c16: "
            "keep-alive / Connection: close req/s",
            same(f"{g('ngx.ka.rps'):,.0f} / {g('ngx.close.rps'):,.0f}"))
        row("3. reference: CPU per request, us: nginx / wrk, keep-alive; Connection: close",
            same(f"{g('ngx.ka.server_us'):,.0f} / {g('ngx.ka.client_us'):,.0f}; "
                 f"{g('ngx.close.server_us'):,.0f} / {g('ngx.close.client_us'):,.0f}"))
    if "val.hit.rps" in r:
        row("4. validations/s, cache hit (-c16; p99 ms; errors)",
            same(f"{g('val.hit.rps'):,.0f} ({g('val.hit.p99'):.2f}; {g('val.hit.errors'):.0f})"),
            "see the ratio below")
        if "ngx200.before.rps" in r:
            row("4. reference: nginx `return 200`, plain HTTP, same wrk -c16, right before / "
                "after the cache-hit run: req/s (CPU per request, us: nginx / wrk)",
                same(f"{g('ngx200.before.rps'):,.0f} / {g('ngx200.after.rps'):,.0f} "
                     f"({g('ngx200.before.server_us'):.1f} / "
                     f"{g('ngx200.before.client_us'):.1f})"))
        row("4. validations/s, cache miss (-c16; p99 ms; errors)",
            same(f"{g('val.miss.rps'):,.0f} ({g('val.miss.p99'):.2f}; "
                 f"{g('val.miss.errors'):.0f})"))
        row('4. validations/s, cache hit, accessLog = "all" (-c16; p99 ms; errors)',
            same(f"{g('val.log.rps'):,.0f} ({g('val.log.p99'):.2f}; "
                 f"{g('val.log.errors'):.0f})"))
        row("4. CPU per validation, us: server / wrk (cache hit; miss; hit with every answer "
            "logged)",
            same(f"{g('val.hit.server_us'):.1f} / {g('val.hit.client_us'):.1f}; "
                 f"{g('val.miss.server_us'):.1f} / {g('val.miss.client_us'):.1f}; "
                 f"{g('val.log.server_us'):.1f} / {g('val.log.client_us'):.1f}"))
    else:
        row("4. validations/s", ["no [validator] in this build"] * len(signers),
            ">= 40,000 cached")
    if "rev.file.1.rps" in r:
        row("6. revocations/s, file log (fsync each): 1 writer / 8 concurrent (errors)",
            same(f"{g('rev.file.1.rps'):,.0f} / {g('rev.file.8.rps'):,.0f} "
                 f"({g('rev.file.1.errors') + g('rev.file.8.errors'):.0f})"))
    if "prop.p50" in r:
        row("6. revocations/s, Redis (appendfsync always): 1 writer / 8 concurrent (errors)",
            same(f"{g('rev.redis.1.rps'):,.0f} / {g('rev.redis.8.rps'):,.0f} "
                 f"({g('rev.redis.1.errors') + g('rev.redis.8.errors'):.0f})"))
        row("6. propagation, 200 on node A to 401 on node B, p50 / p99 ms (store = redis)",
            same(f"{g('prop.p50'):.1f} / {g('prop.p99'):.1f}"), "p99 <= 100")
        row("6. validations/s with store = redis, cache hit (-c16; p99 ms; errors)",
            same(f"{g('val.redis.rps'):,.0f} ({g('val.redis.p99'):.2f}; "
                 f"{g('val.redis.errors'):.0f})"), "within noise of row 4 (cache hit)")
    else:
        row("6. Redis rows", [meta.get("redis", "skipped")] * len(signers))
    row("5. RSS idle, MiB", [f"{g(f'mem.{s}.rss_idle_kib') / 1024:.1f}" for s in signers],
        "<= 8")
    row(f"5. RSS with {g('conns'):,.0f} idle TLS keep-alive connections, MiB",
        [f"{g(f'mem.{s}.rss_conns_kib') / 1024:.1f} ({g(f'mem.{s}.conns_open'):.0f} open)"
         for s in signers], "<= 64")
    row("5. startup to first served key, ms", [f"{g(f'mem.{s}.startup_ms'):.0f}" for s in signers],
        "<= 50")
    row("5. stripped release binary, MiB", same(f"{g('binary_bytes') / 2**20:.2f}"), "<= 6")
    out.extend(ratios(g, signers, cores))
    out.extend(algorithms(g))
    print("\n".join(out))


# bench/algorithms.sh's servers: one per algorithm, the provider signer for the RSA ones.
ALGORITHMS = (("rs256", "RS256"), ("ps256", "PS256"), ("es256", "ES256"), ("eddsa", "EdDSA"))


def algorithms(g):
    """Keep-alive issuance per signing algorithm (wrk -t2 -c16), and the algorithm targets."""
    out = ["", "| keep-alive issuance, wrk -t2 -c16 | "
           + " | ".join(name for _, name in ALGORITHMS) + " | target |",
           "| --- | " + "---: | " * len(ALGORITHMS) + "--- |"]

    def row(name, cells, target=""):
        out.append(f"| {name} | " + " | ".join(cells) + f" | {target} |")

    def verdict(value, limit, at_least=False):
        if value != value:  # NaN: not measured
            return "not measured"
        return "PASS" if (value >= limit if at_least else value <= limit) else "MISS"

    row("keys/s", [f"{g(f'alg.{a}.rps'):,.0f}" for a, _ in ALGORITHMS])
    row("p99, ms", [f"{g(f'alg.{a}.p99'):.2f}" for a, _ in ALGORITHMS])
    row("server CPU per key, µs", [f"{g(f'alg.{a}.server_us'):.0f}" for a, _ in ALGORITHMS])
    es_vs_rs = g("alg.es256.rps") / g("alg.rs256.rps")
    row("keys/s / RS256's", [f"{g(f'alg.{a}.rps') / g('alg.rs256.rps'):.2f}" for a, _ in ALGORITHMS],
        f"ES256 >= 3: {es_vs_rs:.2f} {verdict(es_vs_rs, 3.0, at_least=True)}")
    # nginx's CPU per static request over TLS keep-alive (-c16), from the reference rows.
    ngx = g("ngx.ka.server_us")
    cells = []
    for a, _ in ALGORITHMS:
        r = g(f"alg.{a}.server_us") / ngx
        cells.append(f"{r:.2f} {verdict(r, 2.0)}" if a in ("es256", "eddsa") else f"{r:.2f}")
    row("server CPU per key / nginx's per static request", cells, "<= 2 (ES256, EdDSA)")
    return out


def bracketed(g, label, key):
    """The mean of `key` measured right before and after run `label`; the first measurement
    when the run was not bracketed."""
    before, after = g(f"{label}.before.{key}"), g(f"{label}.after.{key}")
    if before != before or after != after:  # NaN: not bracketed
        return g(key)
    return (before + after) / 2


def cpu_per_op(g, label, key, cores):
    """CPU microseconds of one in-process operation `key` (e.g. `sign.rsa.all`) around run
    `label`: the measured thread CPU time, else (older results) all-core time from the rate."""
    cpu = bracketed(g, label, f"{key}.cpu_us")
    return cpu if cpu == cpu else cores * 1e6 / bracketed(g, label, key)


def ratios(g, signers, cores):
    """The targets as ratios from this one run, each with PASS or MISS (bench/README.md)."""
    out = ["", "| target | " + " | ".join(signers) + " | target |",
           "| --- | " + "---: | " * len(signers) + "--- |"]

    def verdict(value, limit, at_least=False):
        if value != value:  # NaN: not measured
            return "not measured"
        ok = value >= limit if at_least else value <= limit
        return "PASS" if ok else "MISS"

    def row(name, cells, target):
        out.append(f"| {name} | " + " | ".join(cells) + f" | {target} |")

    def cell(value, limit, fmt, at_least=False):
        return f"{value:{fmt}} {verdict(value, limit, at_least)}"

    def same(c):
        return [c] + ["(same)"] * (len(signers) - 1)

    ngx = (g("ngx200.before.rps") + g("ngx200.after.rps")) / 2
    row("cached validations/s / nginx `return 200` req/s (plain HTTP, wrk -t2 -c16, nginx "
        "measured right before and after)",
        same(cell(g("val.hit.rps") / ngx, 0.8, ".2f", at_least=True)), ">= 0.80")
    # CPU time of one signature when every core signs: the in-process all-core rate around
    # the run, as in the table.
    row("keep-alive server CPU per key / CPU of one in-process signature (-c16)",
        [cell(g(f"ka16.{s}.server_us") / cpu_per_op(g, f"ka16.{s}", f"sign.{s}.all", cores),
              1.10, ".2f") for s in signers], "<= 1.10")
    row("p99 at -c2 / one signature (one core)",
        [cell(g(f"ka2.{s}.p99") * g(f"sign.{s}.1") / 1e3, 3.0, ".2f") for s in signers],
        "<= 3 (RSA signers)")
    close = []
    for s in signers:
        lab = f"close.{s}"
        ideal_us = (cpu_per_op(g, lab, f"sign.{s}.all", cores)
                    + cpu_per_op(g, lab, "tls.full.all", cores))
        close.append(cell(g(f"{lab}.server_us") / ideal_us, 1.15, ".2f"))
    row("Connection: close server CPU per key / (CPU of signature + full TLS handshake, "
        "server side, in process around the run)", close, "<= 1.15")
    row("RSS idle, MiB", [cell(g(f"mem.{s}.rss_idle_kib") / 1024, 8, ".1f") for s in signers],
        "<= 8")
    row(f"RSS with {g('conns'):,.0f} idle TLS connections, MiB",
        [cell(g(f"mem.{s}.rss_conns_kib") / 1024, 64, ".1f") for s in signers], "<= 64")
    row("startup to first key, ms",
        [cell(g(f"mem.{s}.startup_ms"), 50, ".0f") for s in signers], "<= 50")
    row("stripped binary, MiB", same(cell(g("binary_bytes") / 2**20, 6, ".2f")), "<= 6")
    return out


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"wrk": wrk, "get-key": get_key, "memory": memory, "report": report,
     "propagation": propagation, "revoke-rate": revoke_rate}[cmd](*args)
