#!/usr/bin/env python3
"""What Piston's API costs over whipcode's own: the p50 of a Python hello
world through POST /api/v2/execute next to POST /run, on one server, in the
same run.

One server with its warm pool; one request at a time, the two APIs
alternating request by request (so drift on this noisy machine hits both),
every program unique (a fresh comment, so nothing is cached), with a pause
between requests so that each finds the warm pool refilled (back to back,
one request in two meets a container still starting, and the p50 of that
two-humped spread says more about the order than about the API). The figure
is the client's latency.

    python3 bench/piston.py [--n 60] [--gap 0.3] [--binary target/release/whipcode]
"""
import argparse, base64, json, os, statistics, sys, tempfile, time, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "piston-bench-key"
HELLO = "print('Success!')\n"


def post(url, path, body):
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-Master-Key": KEY})
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.load(r)
    return (time.monotonic() - started) * 1000, out


def whipcode(url):
    code = f"# {uuid.uuid4()}\n" + HELLO
    took, out = post(url, "/run", {"language_id": 1, "code": base64.b64encode(code.encode()).decode()})
    assert out["stdout"] == "Success!\n", out
    return took


def piston(url):
    code = f"# {uuid.uuid4()}\n" + HELLO
    took, out = post(url, "/api/v2/execute",
                     {"language": "python", "version": "*", "files": [{"content": code}]})
    assert out["run"]["stdout"] == "Success!\n", out
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=service.BIN)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--gap", type=float, default=0.3, help="seconds between requests")
    args = ap.parse_args()
    service.BIN = args.binary
    times = {"run": [], "execute": []}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = service.start(tmp, KEY, f"pst{os.getpid()}", [])
        try:
            for _ in range(3):  # warm-up: the pool fills, the interpreter's files are cached
                whipcode(url)
                piston(url)
            for i in range(args.n):
                order = (("run", whipcode), ("execute", piston))
                for label, call in (order if i % 2 == 0 else order[::-1]):
                    time.sleep(args.gap)
                    times[label].append(call(url))
        finally:
            proc.terminate()
            proc.wait(60)
    r, e = statistics.median(times["run"]), statistics.median(times["execute"])
    q = lambda t, p: statistics.quantiles(t, n=20)[p]  # noqa: E731
    print(f"python hello, {args.n} requests each: POST /run p50 {r:.1f} ms (p90 {q(times['run'], 17):.1f}), "
          f"POST /api/v2/execute p50 {e:.1f} ms (p90 {q(times['execute'], 17):.1f}), execute/run {e / r:.2f}x")


if __name__ == "__main__":
    main()
