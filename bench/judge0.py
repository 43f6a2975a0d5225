#!/usr/bin/env python3
"""Judge0's asynchronous API next to POST /run, on one server, in the same
run: submissions per second at a concurrency of 8 (each client submits with
wait=false and polls its token every 20 ms until the verdict), against
8 clients of POST /run; and the queue wait of the async submissions, from
the server's own log lines (`queue_wait_ms`).

Both take the same Python program (a unique comment each, so nothing is
cached). The async API runs on at most half the containers (its workers),
so its ceiling is lower by design: the other half stays for synchronous
runs.

    python3 bench/judge0.py [--n 80] [--clients 8] [--binary target/release/whipcode]
"""
import argparse, base64, json, os, re, statistics, sys, tempfile, threading, time, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "judge0-bench-key"
PROGRAM = "print(sum(range(1000)))\n"


def call(url, path, body=None):
    req = urllib.request.Request(f"{url}{path}", data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", "X-Auth-Token": KEY, "X-Master-Key": KEY})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def judge0_one(url):
    code = f"# {uuid.uuid4()}\n" + PROGRAM
    token = call(url, "/judge0/submissions", {"language_id": 71, "source_code": code})["token"]
    while True:
        answer = call(url, f"/judge0/submissions/{token}?fields=status_id,stdout")
        if answer["status_id"] >= 3:
            assert answer["stdout"] == "499500\n", answer
            return
        time.sleep(0.02)


def run_one(url):
    code = f"# {uuid.uuid4()}\n" + PROGRAM
    out = call(url, "/run", {"language_id": 1, "code": base64.b64encode(code.encode()).decode()})
    assert out["stdout"] == "499500\n", out


def rate(url, one, n, clients):
    left = [n]
    lock = threading.Lock()

    def client():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            one(url)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.monotonic() - started)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=service.BIN)
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    service.BIN = args.binary
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = service.start(tmp, KEY, f"j0b{os.getpid()}", [], log="info")
        try:
            for _ in range(3):
                run_one(url)
                judge0_one(url)
            sync = rate(url, run_one, args.n, args.clients)
            before = len(proc.log)
            async_rate = rate(url, judge0_one, args.n, args.clients)
            time.sleep(0.5)
            waits = [int(m.group(1)) for line in proc.log[before:]
                     for m in [re.search(r"queue_wait_ms=(\d+)", line)] if m]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"POST /run, {args.clients} clients:            {sync:6.2f} runs/s")
    print(f"Judge0 wait=false + polling, {args.clients} clients: {async_rate:6.2f} submissions/s"
          f"  ({async_rate / sync:.2f}x of /run)")
    if waits:
        waits.sort()
        pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))]
        print(f"queue wait over {len(waits)} submissions: p50 {pick(0.5)} ms, p90 {pick(0.9)} ms, max {waits[-1]} ms")


if __name__ == "__main__":
    main()
