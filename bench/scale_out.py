#!/usr/bin/env python3
"""Judge0's asynchronous API on its three deployments, side by side in one
run: the embedded store (one instance), the Redis store with one instance,
and three instances on the Redis store behind HAProxy (the shipped
deploy/haproxy-whipcode.cfg). For each: submissions per second with
`--clients` clients (each submits with wait=false and polls its token every
20 ms until the verdict), and the queue wait p50/p99 from the instances'
own log lines (`queue_wait_ms`: from acceptance to a worker taking it),
the time to accept a submission (the POST's answer: where Redis's
admission shows) and from submission to verdict, with the ratios against the
embedded store measured in the same run. The setups take turns for
`--rounds` rounds and each figure is the median over the rounds (the
machine is noisy).

Every instance runs on this machine, so three instances share its cores:
the three-instance figure says what the shared queue and the balancer cost,
not what three hosts would gain.

    python3 bench/scale_out.py [--n 120] [--clients 8] [--rounds 3] [--binary target/release/whipcode]
"""
import argparse, os, re, shutil, socket, statistics, subprocess, sys, tempfile, threading, time, uuid

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


def timed_one(url, accepts, totals, lock):
    """One submission polled to its verdict; how long the POST took and
    the whole, in ms."""
    code = f"# {uuid.uuid4()}\n" + judge0.PROGRAM
    started = time.monotonic()
    token = judge0.call(url, "/judge0/submissions", {"language_id": 71, "source_code": code})["token"]
    accepted = time.monotonic()
    while True:
        answer = judge0.call(url, f"/judge0/submissions/{token}?fields=status_id,stdout")
        if answer["status_id"] >= 3:
            assert answer["stdout"] == "499500\n", answer
            break
        time.sleep(0.02)
    with lock:
        accepts.append((accepted - started) * 1000)
        totals.append((time.monotonic() - started) * 1000)


def measure(url, procs, n, clients):
    """One round: submissions/s, queue waits, accept and total times (ms)."""
    for _ in range(3):
        judge0.judge0_one(url)
    marks = [len(p.log) for p in procs]
    accepts, totals, lock = [], [], threading.Lock()
    per_s = judge0.rate(url, lambda u: timed_one(u, accepts, totals, lock), n, clients)
    time.sleep(0.5)
    return {"per_s": per_s, "waits": waits_of(procs, marks), "accepts": sorted(accepts), "totals": sorted(totals)}


def pick(values, q):
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0


SETUPS = [
    ("embedded, 1 instance", 1, False, False),
    ("redis, 1 instance", 1, True, False),
    ("redis, 3 instances + HAProxy", 3, True, True),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=service.BIN)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    service.BIN = args.binary
    rounds = {name: [] for name, *_ in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        redis, store = start_redis(tmp)
        try:
            for _ in range(args.rounds):
                for name, count, shared, balanced in SETUPS:
                    extra = ["--store", store] if shared else []
                    rounds[name].append(run_setup(tmp, name, count, extra, balanced, args))
        finally:
            redis.terminate()
            redis.wait(timeout=30)
    report(rounds, args)


def report(rounds, args):
    med = lambda name, f: statistics.median(f(r) for r in rounds[name])
    base = med(SETUPS[0][0], lambda r: r["per_s"])
    print(f"Judge0 wait=false + polling every 20 ms, {args.clients} clients, {args.n} submissions per round, "
          f"median of {args.rounds} rounds:")
    for name, *_ in SETUPS:
        per_s = med(name, lambda r: r["per_s"])
        print(f"  {name:30} {per_s:6.2f} submissions/s ({per_s / base:.2f}x)"
              f"  queue wait p50 {med(name, lambda r: pick(r['waits'], 0.5)):4.0f} ms"
              f" p99 {med(name, lambda r: pick(r['waits'], 0.99)):4.0f} ms"
              f"  accept p50 {med(name, lambda r: pick(r['accepts'], 0.5)):5.1f} ms"
              f"  verdict p50 {med(name, lambda r: pick(r['totals'], 0.5)):4.0f} ms")


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
