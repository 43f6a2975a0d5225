#!/usr/bin/env python3
"""Judge0's asynchronous API on its three deployments, side by side in one
run: the embedded store (one instance), the Redis store with one instance,
and three instances on the Redis store behind HAProxy (the shipped
deploy/haproxy-whipcode.cfg). For each: submissions per second with
`--clients` clients (each submits with wait=false and polls its token every
20 ms until the verdict), and the queue wait p50/p99 from the instances'
own log lines (`queue_wait_ms`: from acceptance to a worker taking it),
with the ratios against the embedded store measured in the same run.

Every instance runs on this machine, so three instances share its cores:
the three-instance figure says what the shared queue and the balancer cost,
not what three hosts would gain.

    python3 bench/scale_out.py [--n 120] [--clients 8] [--binary target/release/whipcode]
"""
import argparse, os, re, shutil, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402
import judge0  # noqa: E402  (call, judge0_one, rate)

ROOT = service.ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(tmp):
    """A private redis-server on a free loopback port (no persistence)."""
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (Debian's redis-server package)")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not answer")


def waits_of(procs, marks):
    """Every queue_wait_ms the instances logged since `marks`."""
    return sorted(int(m.group(1)) for proc, mark in zip(procs, marks) for line in proc.log[mark:]
                  for m in [re.search(r"queue_wait_ms=(\d+)", line)] if m)


def measure(url, procs, n, clients):
    for _ in range(3):
        judge0.judge0_one(url)
    marks = [len(p.log) for p in procs]
    per_s = judge0.rate(url, judge0.judge0_one, n, clients)
    time.sleep(0.5)
    return per_s, waits_of(procs, marks)


def pick(waits, q):
    return waits[min(len(waits) - 1, int(q * len(waits)))] if waits else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=service.BIN)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    service.BIN = args.binary
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        redis, store = start_redis(tmp)
        try:
            for name, count, extra, balanced in [
                ("embedded, 1 instance", 1, [], False),
                ("redis, 1 instance", 1, ["--store", store], False),
                ("redis, 3 instances + HAProxy", 3, ["--store", store], True),
            ]:
                rows.append((name, *run_setup(tmp, name, count, extra, balanced, args)))
        finally:
            redis.terminate()
            redis.wait(timeout=30)
    base = rows[0][1]
    print(f"Judge0 wait=false + polling, {args.clients} clients, {args.n} submissions each:")
    for name, per_s, waits in rows:
        print(f"  {name:30} {per_s:6.2f} submissions/s ({per_s / base:.2f}x)  "
              f"queue wait p50 {pick(waits, 0.5)} ms, p99 {pick(waits, 0.99)} ms ({len(waits)} logged)")


def run_setup(tmp, name, count, extra, balanced, args):
    procs, urls = [], []
    try:
        for i in range(count):
            proc, url = service.start(tmp, judge0.KEY, f"so{os.getpid()}x{len(name)}x{i}", extra, log="info")
            procs.append(proc)
            urls.append(url)
        if balanced:
            import balancer  # noqa: E402
            with balancer.haproxy(tmp, urls, judge0.KEY) as url:
                return measure(url, procs, args.n, args.clients)
        return measure(urls[0], procs, args.n, args.clients)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
