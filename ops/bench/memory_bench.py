#!/usr/bin/env python3
"""Helpers of ops/bench/memory.sh (stdlib only).

  gen SHAPE N            RESP commands on stdout for `redis-cli --pipe`: N keys of SHAPE
                         (ris = 15-field hash, rts = 20-field hash, string = plain strings,
                         bighash = one hash `big` with N fields, sent 1000 fields per HSET)
  del PORT CMD           loads nothing; times one `CMD big` (DEL or UNLINK) round trip, in ms
  pings PORT CMD         runs PINGs on one connection while another sends `CMD big`; prints
                         "<cmd_ms> <p50_us> <p99_us> <max_us> <pings>" of the PINGs sent from
                         just before the command until its reply arrived
"""
import socket
import sys
import threading
import time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def ris_fields(i):
    return [
        ("instance_id", f"T{i}.desk-a"), ("received_msc", 1718020800500 + i),
        ("seq", i), ("time_msc", 1718020800400 + i), ("login", 51234567 + i),
        ("server", "Broker-Live3"), ("currency", "USD"), ("leverage", 100),
        ("balance", "10250.75"), ("equity", "10312.4"), ("margin", "412.3"),
        ("margin_free", "9900.1"), ("margin_level", "2501.2"), ("connected", 1),
        ("ping_us", 2350),
    ]


def rts_fields(i):
    return [
        ("instance_id", f"T{i % 1000}.desk-a"), ("received_msc", 1718020800500 + i),
        ("seq", i), ("ticket", 700000000 + i), ("time_msc", 1718020800400 + i),
        ("time_update_msc", 1718020800450 + i), ("symbol", "EURUSD"), ("type", "buy"),
        ("volume", "0.1"), ("price_open", "1.0813"), ("price_current", "1.0821"),
        ("sl", "1.075"), ("tp", "1.095"), ("profit", "8.0"), ("swap", "-0.12"),
        ("commission", "-0.35"), ("magic", 20240610), ("comment", "trend-eu"),
        ("state", "open"), ("time_close_msc", 0),
    ]


def gen(shape, n):
    w = sys.stdout.buffer.write
    if shape == "bighash":
        for start in range(0, n, 1000):
            args = ["HSET", "big"]
            for f in range(start, min(n, start + 1000)):
                args += [f"field:{f}", f"value:{f}"]
            w(resp(*args))
        return
    for i in range(n):
        if shape == "string":
            w(resp("SET", f"str:{{T{i}}}", f"{1718020800500 + i}:EURUSD:1.0813"))
        elif shape == "ris":
            args = ["HSET", f"ris:{{T{i}.desk-a}}"]
            for f, v in ris_fields(i):
                args += [f, v]
            w(resp(*args))
        elif shape == "rts":
            args = ["HSET", f"rts:{{T{i % 1000}.desk-a}}:{700000000 + i}"]
            for f, v in rts_fields(i):
                args += [f, v]
            w(resp(*args))
        else:
            sys.exit(f"unknown shape {shape}")


def read_reply(sock, buf):
    """Reads one simple reply line (enough for DEL/UNLINK/PING replies)."""
    while b"\r\n" not in buf[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\r\n", 1)
    return line


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def timed_delete(port, cmd):
    s = connect(port)
    buf = [b""]
    t0 = time.perf_counter()
    s.sendall(resp(cmd, "big"))
    reply = read_reply(s, buf)
    ms = (time.perf_counter() - t0) * 1000
    if reply != b":1":
        sys.exit(f"{cmd} big replied {reply!r}, expected :1 (is the big hash loaded?)")
    return ms


def pings_during(port, cmd):
    pinger = connect(port)
    pbuf = [b""]
    samples = []  # (start, latency)
    stop = threading.Event()

    def ping_loop():
        while not stop.is_set():
            t0 = time.perf_counter()
            pinger.sendall(b"*1\r\n$4\r\nPING\r\n")
            read_reply(pinger, pbuf)
            samples.append((t0, time.perf_counter() - t0))

    th = threading.Thread(target=ping_loop)
    th.start()
    time.sleep(0.3)
    t_start = time.perf_counter()
    ms = timed_delete(port, cmd)
    t_end = time.perf_counter()
    time.sleep(0.3)
    stop.set()
    th.join()
    during = sorted(lat for (t0, lat) in samples if t_start - 0.001 <= t0 <= t_end)
    # A ping sent before the command may wait behind it: count pings that overlap it.
    during += [lat for (t0, lat) in samples if t0 < t_start - 0.001 and t0 + lat > t_start]
    during.sort()
    if not during:
        during = [0.0]

    def pct(p):
        return during[min(len(during) - 1, int(len(during) * p / 100))] * 1e6

    print(f"{ms:.2f} {pct(50):.0f} {pct(99):.0f} {during[-1] * 1e6:.0f} {len(during)}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    what = sys.argv[1]
    if what == "gen":
        gen(sys.argv[2], int(sys.argv[3]))
    elif what == "del":
        print(f"{timed_delete(int(sys.argv[2]), sys.argv[3]):.2f}")
    elif what == "pings":
        pings_during(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
