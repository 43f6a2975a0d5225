#!/usr/bin/env python3
"""The request path under an unauthenticated flood: the server's memory and
the right key's latency while 1000 connections send what a client without
the key can send.

Two floods, each against a freshly started server (so the right key is not
remembered yet and its first check needs argon2):
  unkeyed  1000 connections, each POST /run with no key and a 900 KB body,
           sent as fast as the server takes it, again and again;
  wrongkey 1000 connections, each POST /run with a new wrong key, again and
           again.
The flood comes from 16 loopback addresses (so a per-client cap does not
simply refuse it); the right key from another (127.0.0.2), one request at a
time, `{}` as the body (400 once the key is accepted: the request path only).

Figures per binary: the server's peak and median RSS during the flood, the
right key's first answer (needs argon2) and its p50/p90 over the rest, and
how many of its requests got the 400 (the others: 503, 429, refused
connections); latencies are of the requests that got it.

    python3 bench/flood.py                      # target/release/whipcode
    python3 bench/flood.py --before OLD_BINARY  # and the ratios against it

An old binary: `git worktree add /tmp/before REV && cargo build --release
--manifest-path /tmp/before/Cargo.toml` (then /tmp/before/target/release/whipcode).
"""
import argparse, asyncio, concurrent.futures, os, random, socket, statistics, string, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "flood-bench-key-" + "".join(random.choices(string.ascii_lowercase, k=12))
BODY = 900_000
FLOOD_ADDRS = [f"127.0.1.{i}" for i in range(1, 17)]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def flood_worker(port, addr, kind, stop, counts):
    payload = b"x" * BODY
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(addr, 0))
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            if kind == "unkeyed":
                head = (f"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {BODY}\r\n\r\n").encode()
                writer.write(head)
                writer.write(payload)
            else:
                wrong = "".join(random.choices(string.ascii_letters, k=24))
                writer.write((f"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              f"X-Master-Key: {wrong}\r\nContent-Length: 2\r\n\r\n{{}}").encode())
            drain = asyncio.ensure_future(writer.drain())
            line = await asyncio.wait_for(reader.readline(), 30)
            drain.cancel()
            status = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "closed"
            counts[status] = counts.get(status, 0) + 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            counts["error"] = counts.get("error", 0) + 1
        finally:
            writer.close()


def right_key(port, n):
    """n sequential keyed requests from 127.0.0.2, in a process of its own (so
    the flood's event loop does not delay it): (latencies ms, unexpected answers)."""
    times, statuses = [], []
    body = b"{}"
    request = (f"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"X-Master-Key: {KEY}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    for _ in range(n):
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=("127.0.0.2", 0)) as sock:
                sock.sendall(request)
                line = sock.makefile("rb").readline()
            status = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "closed"
        except OSError as e:
            status = type(e).__name__
        times.append((time.monotonic() - started) * 1000)
        statuses.append(status)
        time.sleep(0.05)
    return times, statuses


async def measure(proc, url, kind, connections, samples):
    port = int(url.rsplit(":", 1)[1])
    stop = asyncio.Event()
    counts = {"refused": 0}
    workers = [asyncio.ensure_future(flood_worker(port, FLOOD_ADDRS[i % len(FLOOD_ADDRS)], kind, stop, counts))
               for i in range(connections)]
    rss = []

    async def sample():
        while not stop.is_set():
            rss.append(rss_kb(proc.pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample())
    await asyncio.sleep(2)  # the flood is under way before the right key's first request
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        times, statuses = await asyncio.get_running_loop().run_in_executor(pool, right_key, port, samples)
    stop.set()
    await asyncio.wait(workers, timeout=35)
    for w in workers:
        w.cancel()
    sampler.cancel()
    # Latencies of the answers that were the 400 (a refused connection is fast, and no answer).
    served = sorted(t for t, s in list(zip(times, statuses))[1:] if s == "400")
    nan = float("nan")
    return {
        "rss_peak_mb": max(rss) / 1024,
        "rss_median_mb": statistics.median(rss) / 1024,
        "first_ms": times[0] if statuses[0] == "400" else nan,
        "p50_ms": statistics.median(served) if served else nan,
        "p90_ms": served[int(len(served) * 0.9)] if served else nan,
        "not_400": [s for s in statuses if s != "400"],
        "flood_answers": counts,
    }


def run_binary(binary, kind, connections, samples):
    service.BIN = binary
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = service.start(tmp, KEY, f"flood{os.getpid()}", ["--pool-size", "0"])
        try:
            return asyncio.run(measure(proc, url, kind, connections, samples))
        finally:
            proc.terminate()
            proc.wait(60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--after", default=service.BIN, help="the binary measured (default: the release build)")
    parser.add_argument("--before", help="a binary to compare against, measured in the same run")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=41, help="right-key requests per flood")
    args = parser.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    binaries = [("after", args.after)] + ([("before", args.before)] if args.before else [])
    results = {}
    for kind in ("unkeyed", "wrongkey"):
        for label, binary in binaries:
            r = run_binary(binary, kind, args.connections, args.samples)
            results[(kind, label)] = r
            print(f"{kind:8} {label:6} rss peak {r['rss_peak_mb']:7.1f} MB median {r['rss_median_mb']:7.1f} MB | "
                  f"right key first {r['first_ms']:8.1f} ms p50 {r['p50_ms']:7.1f} ms p90 {r['p90_ms']:7.1f} ms | "
                  f"answered {args.samples - len(r['not_400'])}/{args.samples}, not answered: "
                  f"{sorted(set(r['not_400']))} | flood: {r['flood_answers']}",
                  flush=True)
    if args.before:
        for kind in ("unkeyed", "wrongkey"):
            a, b = results[(kind, "after")], results[(kind, "before")]
            print(f"{kind:8} after/before: rss peak {a['rss_peak_mb'] / b['rss_peak_mb']:.2f}x, "
                  f"right key p50 {a['p50_ms'] / b['p50_ms']:.2f}x, first {a['first_ms'] / b['first_ms']:.2f}x")


if __name__ == "__main__":
    main()
