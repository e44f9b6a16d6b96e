#!/usr/bin/env python3
"""Attack driver of the load check (bench/load-check.sh): runs each attack of issue 11 against a
running yealink-prov on loopback while it samples the server's memory and descriptors and probes
/healthz and one enrolled phone's fetch every 200 ms. Prints a markdown table.

Python 3 standard library only (asyncio, raw sockets): nothing to build, nothing to install.
The attacker speaks from 127.0.0.1 (and, where said, from many 127.0.x.y addresses); the probes
from 127.0.0.2 (the phone) and 127.0.0.3 (monitoring), as real clients have their own addresses.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import time

PROBE_EVERY = 0.2
PROBE_DEADLINE = 1.0
PHONE_SRC = "127.0.0.2"
MONITOR_SRC = "127.0.0.3"


# ---------------------------------------------------------------- the server's side, sampled


def proc_status(pid):
    """VmRSS and VmHWM in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def reset_peak(pid):
    """Resets VmHWM (Linux >= 4.0: `5` to clear_refs); False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler:
    def __init__(self, pid):
        self.pid = pid
        self.peak_rss = 0
        self.peak_fds = 0
        self.alive = True

    async def run(self, stop):
        while not stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, proc_status(self.pid)["VmRSS"])
                self.peak_fds = max(self.peak_fds, open_fds(self.pid))
            except (OSError, KeyError):
                self.alive = False
                return
            await asyncio.sleep(0.1)


# ---------------------------------------------------------------- raw HTTP/1.1


async def connect(host, port, src=None, timeout=5.0):
    local = (src, 0) if src else None
    return await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=local, limit=1 << 20), timeout
    )


async def read_response(reader):
    """Status and body of one response (Content-Length or chunked); raises on EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
    return status, headers, body


def request(method, path, host, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += list(headers)
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def one_request(host, port, method, path, src=None, headers=(), body=b"", timeout=5.0):
    reader, writer = await connect(host, port, src, timeout)
    try:
        writer.write(request(method, path, f"{host}:{port}", list(headers) + ["Connection: close"], body))
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()


# ---------------------------------------------------------------- probes


class Probe:
    """GETs `path` from `src` every 200 ms; an answer must be 200 within 1 s."""

    def __init__(self, name, host, port, path, src):
        self.name, self.host, self.port, self.path, self.src = name, host, port, path, src
        self.worst = 0.0
        self.failures = 0
        self.count = 0

    async def run(self, stop):
        while not stop.is_set():
            started = time.monotonic()
            ok = False
            try:
                status, _, _ = await one_request(
                    self.host, self.port, "GET", self.path, self.src, timeout=PROBE_DEADLINE
                )
                ok = status == 200
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                ok = False
            took = time.monotonic() - started
            self.count += 1
            self.worst = max(self.worst, took)
            if not ok or took > PROBE_DEADLINE:
                self.failures += 1
            await asyncio.sleep(max(0.0, PROBE_EVERY - took))


# ---------------------------------------------------------------- attacks
# Each returns a short note of what the attacker saw (for the table).


class Counter(dict):
    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n

    def text(self):
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.items(), key=lambda kv: str(kv[0])))


async def keep_alive_worker(a, stop, make_request, seen, src=None):
    """Sends requests on one connection (reconnecting when closed) until `stop`."""
    while not stop.is_set():
        try:
            reader, writer = await connect(a.host, a.port, src)
        except (OSError, asyncio.TimeoutError):
            seen.add("connect failed")
            await asyncio.sleep(0.1)
            continue
        try:
            while not stop.is_set():
                writer.write(make_request())
                await writer.drain()
                status, headers, _ = await asyncio.wait_for(read_response(reader), 30)
                seen.add(status)
                if headers.get("connection", "").lower() == "close":
                    break
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
            seen.add("closed")
        finally:
            writer.close()


async def attack_bearer(a, stop):
    seen = Counter()
    host = f"{a.host}:{a.port}"

    def guess():
        token = base64.b64encode(os.urandom(12)).decode()
        return request("GET", "/api/v1/devices", host, [f"Authorization: Bearer {token}"])

    await asyncio.gather(*(keep_alive_worker(a, stop, guess, seen) for _ in range(128)))
    return seen.text()


def sign_in_request(a, password):
    host = f"{a.host}:{a.port}"
    return request(
        "POST", "/ui/login", host,
        ["Content-Type: application/x-www-form-urlencoded", f"Origin: http://{host}"],
        f"password={password}".encode(),
    )


def guess(a):
    return sign_in_request(a, f"wrong-{random.randrange(1 << 30)}")


async def attack_signin(a, stop):
    seen = Counter()
    await asyncio.gather(*(keep_alive_worker(a, stop, lambda: guess(a), seen) for _ in range(64)))
    return seen.text()


async def sign_in_once(a, src, password=None):
    """A sign-in from `src` (the admin's password unless given): (status, seconds)."""
    started = time.monotonic()
    try:
        status, _, _ = await one_request(
            a.host, a.port, "POST", "/ui/login", src,
            ["Content-Type: application/x-www-form-urlencoded", f"Origin: http://{a.host}:{a.port}"],
            f"password={password or a.admin_password}".encode(), timeout=30,
        )
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
        status = "failed"
    return status, time.monotonic() - started


async def attack_signin_many(a, stop):
    """255 addresses guessing (one keep-alive connection each) while the admin signs in from
    another address every 0.5 s; meanwhile a 256th address guesses until it is refused (429),
    stops, and the admin signs in from it every 0.5 s until it gets in. A sign-in that got in
    answers 303."""
    seen = Counter()
    srcs = sources(256)
    admin_src = "127.0.0.4"
    admin = Counter()
    first = []
    same = Counter()
    same_took = []

    async def honest_admin():
        await asyncio.sleep(1)  # once the flood is on
        while not stop.is_set():
            status, took = await sign_in_once(a, admin_src)
            admin.add(status)
            if status == 303 and not first:
                first.append(took)
            await asyncio.sleep(0.5)

    async def admin_at_a_guessing_address():
        await asyncio.sleep(1)
        # Guesses that are turned away (503) cost no budget: go on until one is refused (429).
        guessing = time.monotonic()
        while time.monotonic() - guessing < 30:
            status, _ = await sign_in_once(a, srcs[0], f"wrong-{random.randrange(1 << 30)}")
            seen.add(status)
            if status == 429:
                same.add("budget used up")
                break
        else:
            same.add("budget NOT used up within 30 s")
        started = time.monotonic()
        while time.monotonic() - started < 60:
            status, _ = await sign_in_once(a, srcs[0])
            same.add(status)
            if status == 303:
                same_took.append(time.monotonic() - started)
                return
            await asyncio.sleep(0.5)

    await asyncio.gather(
        honest_admin(),
        admin_at_a_guessing_address(),
        *(keep_alive_worker(a, stop, lambda: guess(a), seen, src) for src in srcs[1:]),
    )
    first_text = f"first in after {first[0]:.2f} s" if first else "never in"
    same_text = f"in {same_took[0]:.1f} s after its last guess" if same_took else "not in within 60 s"
    return (f"guesses: {seen.text()}; admin from another address: {admin.text()} ({first_text}); "
            f"admin from an address that guessed until 429: {same.text()}, {same_text}")


def sources(n):
    """`n` loopback source addresses for the attacker (127.0.1.1 ...)."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


def closed_after(started):
    took = time.monotonic() - started
    return "closed <1 s" if took < 1 else f"closed at ~{max(5, round(took / 5) * 5)} s"


async def hold_sockets(a, stop, count, srcs, send=None):
    """Opens `count` sockets (spread over `srcs`) and holds them until `stop`; `send(i)` gives
    bytes to write now and then (slowloris). Counts what the server did to them."""
    seen = Counter()
    gate = asyncio.Semaphore(512)

    async def one(i):
        async with gate:
            try:
                reader, writer = await connect(a.host, a.port, srcs[i % len(srcs)])
            except (OSError, asyncio.TimeoutError):
                seen.add("connect failed")
                return
        started = time.monotonic()
        try:
            while not stop.is_set():
                if send is not None:
                    writer.write(send(i))
                    await writer.drain()
                try:
                    # Wake every second: to drip (slowloris) and to notice the end of the run.
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    seen.add(closed_after(started))
                    return
            seen.add("open at end")
        except OSError:
            seen.add(closed_after(started))
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    return seen.text()


async def attack_idle(a, stop):
    return await hold_sockets(a, stop, a.sockets, ["127.0.0.1"])


async def attack_idle_many(a, stop):
    return await hold_sockets(a, stop, a.sockets, sources(100))


async def attack_slowloris(a, stop):
    head = f"GET /healthz HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n".encode()
    sent = {}

    def drip(i):
        # The request line and Host, then one header byte a second, never the blank line.
        n = sent.get(i, 0)
        sent[i] = n + 1
        return head if n == 0 else b"X"

    return await hold_sockets(a, stop, 2000, sources(20), drip)


def ws_frame(opcode, payload):
    """A masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    else:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def ws_upgrade(a, src):
    reader, writer = await connect(a.host, a.port, src)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(request("GET", a.appws_path, f"{a.host}:{a.port}", [
        "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return reader, writer, int(head.split(b" ")[1])


async def ws_open(a, src, seen):
    """An upgraded AppWebsocket `(reader, writer)`, or `None` with what happened counted."""
    try:
        reader, writer, status = await ws_upgrade(a, src)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
        seen.add("refused")
        return None
    if status != 101:
        seen.add(f"upgrade {status}")
        writer.close()
        return None
    return reader, writer


async def attack_appws_keepalive(a, stop):
    """1,000 upgrades that never log in but send KeepAlive and pings every 2 s."""
    seen = Counter()
    srcs = sources(10)
    keepalive = ws_frame(0x1, json.dumps({"mt": "KeepAlive"}).encode())

    async def one(i):
        opened = await ws_open(a, srcs[i % len(srcs)], seen)
        if opened is None:
            return
        reader, writer = opened
        started = time.monotonic()

        async def read_until_eof():
            while await reader.read(1 << 16):
                pass

        drain = asyncio.ensure_future(read_until_eof())
        try:
            while not stop.is_set():
                writer.write(keepalive + ws_frame(0x9, b"ping"))
                await writer.drain()
                await asyncio.sleep(2)
                if drain.done():
                    break
            else:
                seen.add("open at end")
                return
            seen.add(f"closed after {int(time.monotonic() - started) // 10 * 10}+ s")
        except OSError:
            seen.add(f"closed after {int(time.monotonic() - started) // 10 * 10}+ s")
        finally:
            drain.cancel()
            writer.close()

    await asyncio.gather(*(one(i) for i in range(1000)))
    return seen.text()


async def attack_appws_unread(a, stop):
    """Sockets that ask for AppChallenge again and again and never read the answers."""
    seen = Counter()
    challenge = ws_frame(0x1, json.dumps({"mt": "AppChallenge"}).encode())

    async def one(i):
        try:
            _, writer, status = await ws_upgrade(a, f"127.0.0.{10 + i}")
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
            seen.add("refused")
            return
        if status != 101:
            seen.add(f"upgrade {status}")
            return
        sent = 0
        try:
            while not stop.is_set():
                writer.write(challenge * 100)
                await asyncio.wait_for(writer.drain(), 5)
                sent += 100
                await asyncio.sleep(0)
            seen.add("open at end")
        except (OSError, asyncio.TimeoutError):
            # The server stopped reading (outbox full) or closed the socket.
            seen.add("closed or blocked by server")
        finally:
            seen.add("challenges sent", sent)
            writer.close()

    await asyncio.gather(*(one(i) for i in range(8)))
    return seen.text()


async def attack_phone_denied(a, stop):
    seen = Counter()
    host = f"{a.host}:{a.port}"

    def unknown():
        mac = "805ec1" + os.urandom(3).hex()
        if random.random() < 0.5:
            return request("GET", f"/prov/{mac}.cfg", host, ["User-Agent: Yealink SIP-T46U 108.86.0.90 " + mac])
        token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        return request("GET", f"/prov/{token}/{mac}.cfg", host, ["User-Agent: Yealink SIP-T46U 108.86.0.90 " + mac])

    await asyncio.gather(*(keep_alive_worker(a, stop, unknown, seen) for _ in range(64)))
    return seen.text()


async def attack_import(a, stop):
    rows = ["mac,sip_user,sip_password,registrar"]
    for n in range(25_000):
        rows.append(f"001565{n:06x},{20_000 + n},secret-{n},pbx.example.test")
    body = ("\n".join(rows) + "\n").encode()
    started = time.monotonic()
    try:
        status, _, answer = await one_request(
            a.host, a.port, "POST", "/api/v1/devices/import", None,
            [f"Authorization: Bearer {a.admin_password}", "Content-Type: text/csv"], body, timeout=600,
        )
        took = time.monotonic() - started
        try:
            imported = json.loads(answer).get("imported")
        except ValueError:
            imported = "?"
        note = f"{status}, imported {imported} in {took:.1f} s"
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        note = f"failed: {e!r}"
    stop.set()
    return note


# The HTTP/2 client preface, an empty SETTINGS frame, and a PING (RFC 9113 3.4, 6.5, 6.7).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2_PING = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"


async def attack_h2_preface(a, stop):
    """A third send `PRI`, a third the whole preface, a third the preface and SETTINGS and then
    a PING every second; none ever sends a request."""
    sent = set()

    def start(i):
        first = i not in sent
        sent.add(i)
        kind = i % 3
        if kind == 0:
            return b"PRI" if first else b""
        if kind == 1:
            return H2_PREFACE if first else b""
        return H2_PREFACE + H2_SETTINGS + H2_PING if first else H2_PING

    return await hold_sockets(a, stop, 2000, sources(20), start)


async def attack_slow_body(a, stop):
    """Sign-in bodies announced at 1,000 bytes and sent one byte a second."""
    host = f"{a.host}:{a.port}"
    head = request(
        "POST", "/ui/login", host,
        ["Content-Type: application/x-www-form-urlencoded", f"Origin: http://{host}",
         "Content-Length: 1000"],
    ).replace(b"Content-Length: 0\r\n", b"")
    sent = set()

    def drip(i):
        first = i not in sent
        sent.add(i)
        return head if first else b"x"

    return await hold_sockets(a, stop, 2000, sources(20), drip)


def local_cfg_path(phone_path):
    """The enrolled phone's `<MAC>-local.cfg` next to its `<MAC>.cfg` (same token URL)."""
    base, _, name = phone_path.rpartition("/")
    return f"{base}/{name.removesuffix('.cfg')}-local.cfg"


async def attack_unfinished_body(a, stop):
    """4,000 uploads from 40 addresses that stop before their end: half anonymous sign-ins
    (3,000 of 4,000 bytes), half the enrolled phone's own `-local.cfg` PUT through its token URL
    (200 KB of 250 KB), which is authenticated and so read."""
    host = f"{a.host}:{a.port}"
    signin = request(
        "POST", "/ui/login", host,
        ["Content-Type: application/x-www-form-urlencoded", f"Origin: http://{host}",
         "Content-Length: 4000"],
    ).replace(b"Content-Length: 0\r\n", b"") + b"password=" + b"x" * 2991
    upload = request(
        "PUT", local_cfg_path(a.phone_path), host, ["Content-Length: 250000"],
    ).replace(b"Content-Length: 0\r\n", b"") + b"#" * 200_000
    sent = set()

    def start(i):
        first = i not in sent
        sent.add(i)
        if not first:
            return b""
        return signin if i % 2 == 0 else upload

    return await hold_sockets(a, stop, 4000, sources(40), start)


async def attack_big_frame(a, stop):
    """64 AppWebsockets (8 addresses) each announcing a 15,000,000-byte frame and sending it."""
    seen = Counter()
    srcs = sources(8)
    mask = os.urandom(4)
    header = bytes([0x81, 0x80 | 127]) + (15_000_000).to_bytes(8, "big") + mask
    chunk = b"\x00" * 65536

    async def one(i):
        opened = await ws_open(a, srcs[i % len(srcs)], seen)
        if opened is None:
            return
        _, writer = opened
        started = time.monotonic()
        sent = 0
        try:
            writer.write(header)
            while not stop.is_set() and sent < 15_000_000:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
                sent += len(chunk)
            if sent >= 15_000_000:
                seen.add("whole frame sent")
            else:
                seen.add("open at end")
        except (OSError, asyncio.TimeoutError):
            seen.add(f"{closed_after(started)} after {sent // 1_000_000} MB")
        finally:
            writer.close()

    await asyncio.gather(*(one(i) for i in range(64)))
    await stop.wait()
    return seen.text()


async def attack_none(a, stop):
    await stop.wait()
    return ""


ATTACKS = {
    "baseline": (attack_none, "no attack"),
    "bearer": (attack_bearer, "128 parallel wrong `Authorization: Bearer` guesses (keep-alive)"),
    "signin": (attack_signin, "64 parallel wrong UI sign-ins"),
    "signin-many": (attack_signin_many, "wrong UI sign-ins from 256 addresses; the admin signs in meanwhile"),
    "idle": (attack_idle, "{sockets} silent sockets from one address"),
    "idle-many": (attack_idle_many, "{sockets} silent sockets from 100 addresses"),
    "slowloris": (attack_slowloris, "2,000 slowloris sockets (1 header byte/s) from 20 addresses"),
    "appws-keepalive": (attack_appws_keepalive, "1,000 AppWebsocket upgrades, no login, KeepAlive + ping every 2 s (10 addresses)"),
    "appws-unread": (attack_appws_unread, "8 AppWebsockets sending AppChallenge without reading"),
    "phone-denied": (attack_phone_denied, "64 parallel phone requests with unknown MACs/tokens"),
    "import": (attack_import, "25,000-row CSV import (API)"),
    "h2-preface": (attack_h2_preface, "2,000 sockets (20 addresses): `PRI`, the HTTP/2 preface, or preface + PINGs, never a request"),
    "slow-body": (attack_slow_body, "2,000 sign-in bodies (20 addresses) trickled 1 byte/s"),
    "unfinished-body": (attack_unfinished_body, "4,000 bodies (40 addresses) stopped before their end: sign-ins, and 200 KB of the phone's 250 KB upload"),
    "big-frame": (attack_big_frame, "64 AppWebsockets (8 addresses) sending one 15 MB frame each"),
}


async def run_one(a, kind):
    attack, what = ATTACKS[kind]
    rss_before = proc_status(a.pid)["VmRSS"]
    reset = reset_peak(a.pid)
    stop = asyncio.Event()
    sampler = Sampler(a.pid)
    probes = [
        Probe("healthz", a.host, a.port, "/healthz", MONITOR_SRC),
        Probe("phone", a.host, a.port, a.phone_path, PHONE_SRC),
    ]
    background = [asyncio.ensure_future(sampler.run(stop))] + [
        asyncio.ensure_future(p.run(stop)) for p in probes
    ]
    # Timeout defences need the long run; the import ends by itself.
    long = ("idle", "idle-many", "slowloris", "appws-keepalive", "h2-preface", "slow-body",
            "unfinished-body")
    duration = 900 if kind == "import" else a.duration_long if kind in long else a.duration
    timer = asyncio.get_running_loop().call_later(duration, stop.set)
    started = time.monotonic()
    try:
        note = await attack(a, stop)
    except Exception as e:  # a driver bug must not hide the other rows
        note = f"driver error: {e!r}"
    stop.set()
    timer.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    took = time.monotonic() - started
    hwm = proc_status(a.pid)["VmHWM"] if reset and sampler.alive else None
    # Let closed sockets and freed memory settle before the next row.
    await asyncio.sleep(a.settle)
    rss_after = proc_status(a.pid)["VmRSS"] if sampler.alive else 0
    return {
        "rss_after_mib": rss_after / 1024,
        "kind": kind,
        "what": what.format(sockets=f"{a.sockets:,}"),
        "seconds": took,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": (hwm if hwm is not None else sampler.peak_rss) / 1024,
        "peak_fds": sampler.peak_fds,
        "alive": sampler.alive,
        "probes": {p.name: (p.count, p.failures, p.worst) for p in probes},
        "note": note,
    }


def table(rows):
    out = [
        "| attack | s | RSS before → peak → after, MiB | peak fds | /healthz worst (fail/n) | phone fetch worst (fail/n) | the attacker saw |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        cells = []
        for name in ("healthz", "phone"):
            n, failed, worst = r["probes"][name]
            cells.append(f"{worst * 1000:.0f} ms ({failed}/{n})")
        note = r["note"] if r["alive"] else "SERVER DIED; " + r["note"]
        out.append(
            f"| {r['kind']}: {r['what']} | {r['seconds']:.0f} | {r['rss_before_mib']:.0f} → {r['peak_rss_mib']:.0f} → {r['rss_after_mib']:.0f} | {r['peak_fds']} "
            f"| {cells[0]} | {cells[1]} | {note} |"
        )
    return "\n".join(out)


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pid", type=int, required=True, help="the server's process id")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--phone-path", required=True, help="an enrolled phone's token URL path + file")
    p.add_argument("--admin-password", default=os.environ.get("YEALINK_PROV_ADMIN_PASSWORD", ""))
    p.add_argument("--appws-path", default="/innovaphone-yealink")
    p.add_argument("--duration", type=float, default=15, help="seconds per attack")
    p.add_argument("--duration-long", type=float, default=40,
                   help="seconds for attacks whose defence is a timeout (idle, slowloris, AppWebsocket login)")
    p.add_argument("--settle", type=float, default=3, help="seconds after an attack before RSS 'after' is read")
    p.add_argument("--sockets", type=int, default=19_000, help="idle sockets (client ulimit -n)")
    p.add_argument("--json-out")
    p.add_argument("attacks", nargs="*", default=list(ATTACKS))
    a = p.parse_args()
    unknown = [k for k in a.attacks if k not in ATTACKS]
    if unknown:
        p.error(f"unknown attack(s): {unknown}; known: {list(ATTACKS)}")
    rows = []
    for kind in a.attacks:
        print(f"[load-check] {kind} ...", flush=True)
        row = await run_one(a, kind)
        print(f"[load-check] {kind}: {json.dumps(row)}", flush=True)
        rows.append(row)
        if not row["alive"]:
            break
    print()
    print(table(rows))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    asyncio.run(main())
