#!/usr/bin/env python3
"""Overload check: 64 concurrent 2-second runs against one instance.

Usage: ./task build && python3 bench/overload.py [--runs 64] [--seconds 2]

Promise checked: every request gets a completed run (200) or a clear 503 with
Retry-After; at least 16 complete without timing out; none waits past a
minute; the server stays up; no container of the instance remains.
Exits non-zero when a promise is broken.
"""
import argparse, base64, json, os, subprocess, tempfile, threading, time, urllib.error, urllib.request, uuid

import service

KEY = "overload-key"


def one(url, seconds, results, i):
    code = f"import time\ntime.sleep({seconds})\nprint('done')  # {uuid.uuid4().hex}"
    body = json.dumps({"language_id": 1, "code": base64.b64encode(code.encode()).decode()}).encode()
    req = urllib.request.Request(url + "/run", body, {"Content-Type": "application/json", "X-Master-Key": KEY})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=180) as r:
            out = json.load(r)
            results[i] = (200, time.monotonic() - started, out.get("timeout"), None)
    except urllib.error.HTTPError as e:
        results[i] = (e.code, time.monotonic() - started, None, e.headers.get("Retry-After"))
    except Exception as e:  # connection refused, reset, timeout: all broken promises
        results[i] = (str(e), time.monotonic() - started, None, None)


def containers(instance):
    out = subprocess.run(["podman", "ps", "--all", "--filter", f"label=whipcode.instance={instance}",
                          "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2)
    args = ap.parse_args()
    instance = f"overload{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = service.start(tmp, KEY, instance)
        results = [None] * args.runs
        threads = [threading.Thread(target=one, args=(url, args.seconds, results, i)) for i in range(args.runs)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began
        alive = proc.poll() is None
        completed = [r for r in results if r[0] == 200 and r[2] is False]
        timed_out = [r for r in results if r[0] == 200 and r[2] is True]
        refused = [r for r in results if r[0] == 503]
        other = [r for r in results if r[0] not in (200, 503)]
        slowest = max(r[1] for r in results)
        proc.terminate()
        proc.wait(timeout=120)
        for line in proc.log:
            print(f"  server: {line}")
        time.sleep(1)
        left = containers(instance)
    print(f"{args.runs} concurrent {args.seconds:g}-second python runs, finished in {wall:.1f} s")
    print(f"  completed      {len(completed)}")
    print(f"  timed out      {len(timed_out)}")
    print(f"  503 refused    {len(refused)} (Retry-After: {sorted(set(r[3] for r in refused))})")
    print(f"  other          {len(other)} {[r[0] for r in other][:5]}")
    print(f"  slowest answer {slowest:.1f} s")
    print(f"  server alive   {alive}; containers left {len(left)}")
    broken = []
    if other:
        broken.append("some requests got neither a run nor a 503")
    if len(completed) < 16:
        broken.append("fewer than 16 runs completed")
    if slowest > 60:
        broken.append("a request waited past a minute")
    if not alive:
        broken.append("the server died")
    if left:
        broken.append("containers were left behind")
    if refused and any(r[3] is None for r in refused):
        broken.append("a 503 without Retry-After")
    for b in broken:
        print("BROKEN:", b)
    raise SystemExit(1 if broken else 0)


if __name__ == "__main__":
    main()
