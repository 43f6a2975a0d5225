#!/usr/bin/env python3
"""What the stage boundary costs: the p50 of a compile+run C hello world
through POST /run, this build against another, measured in the same run.

Each binary serves in turn (rounds alternate, so drift on this noisy machine
hits both), with its warm pool, one request at a time, every request unique
(a fresh comment, so nothing is cached). The figure is the client's latency.

    python3 bench/stages.py --before OLD_BINARY [--n 40] [--rounds 3]

OLD_BINARY needs its own runner beside it (the protocol changed): in a
worktree of the old revision, `./task build`, then pass
WORKTREE/target/release/whipcode.
"""
import argparse, base64, json, os, statistics, sys, tempfile, time, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "stages-bench-key"
HELLO = '#include <stdio.h>\nint main(void){ puts("Success!"); return 0; }\n'


def once(url):
    code = f"/* {uuid.uuid4()} */\n" + HELLO
    body = json.dumps({"language_id": 7, "code": base64.b64encode(code.encode()).decode()}).encode()
    req = urllib.request.Request(f"{url}/run", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Master-Key": KEY})
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.load(r)
    took = (time.monotonic() - started) * 1000
    assert out["stdout"] == "Success!\n", out
    return took


def measure(binary, n):
    service.BIN = binary
    with tempfile.TemporaryDirectory() as tmp:
        # Each binary with the language map of its own revision.
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(binary))))
        proc, url = service.start(tmp, KEY, f"stg{os.getpid()}", ["-m", os.path.join(repo, "langmap.toml")])
        try:
            for _ in range(3):  # warm-up: the pool fills, the compiler's files are cached
                once(url)
            return [once(url) for _ in range(n)]
        finally:
            proc.terminate()
            proc.wait(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--after", default=service.BIN)
    ap.add_argument("--before", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    times = {"before": [], "after": []}
    for r in range(args.rounds):
        for label in (("before", "after") if r % 2 == 0 else ("after", "before")):
            t = measure(getattr(args, label), args.n)
            times[label] += t
            print(f"round {r + 1} {label:6} p50 {statistics.median(t):7.1f} ms", flush=True)
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"C hello compile+run, {len(times['after'])} requests each: before p50 {b:.1f} ms, "
          f"after p50 {a:.1f} ms, after/before {a / b:.2f}x")


if __name__ == "__main__":
    main()
