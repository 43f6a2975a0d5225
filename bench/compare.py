#!/usr/bin/env python3
"""Two builds of whipcode side by side, interleaved: did a change cost anything?

Usage:
  git worktree add /tmp/before <rev> && (cd /tmp/before && ./task build)
  ./task build && python3 bench/compare.py --a /tmp/before --b . [--rounds 5] [--n 30]

Each build is a checkout with `target/release/whipcode` and its runner beside
it. In every round each build in turn (A, B, B, A, ... so neither always goes
first) starts on a free port with a warm pool of 1 and runs --n python and
--n C hello worlds one after another, each with unique code (the cache is
off). Per round and build: the p50 latency at concurrency 1, and the busy
CPU of the whole machine per run (/proc/stat, idle and iowait subtracted,
over the runs and the pool's refill after them). It prints each figure's
median over the rounds with its min-max spread, and the ratio B/A per
round (median and spread): the machine is noisy, so only ratios measured
in the same run are compared.
"""
import argparse, base64, json, os, statistics, tempfile, time, urllib.request, uuid

import service

KEY = "compare-key"
PROGRAMS = {
    "python": (1, "print('Success!')\n# {}\n"),
    "c": (7, '#include <stdio.h>\nint main(void) {{ puts("Success!"); return 0; }}\n// {}\n'),
}


def run(url, lang):
    lang_id, template = PROGRAMS[lang]
    code = template.format(uuid.uuid4().hex)
    body = json.dumps({"language_id": lang_id, "code": base64.b64encode(code.encode()).decode()}).encode()
    req = urllib.request.Request(url + "/run", body, {"Content-Type": "application/json", "X-Master-Key": KEY})
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.load(r)
    elapsed = (time.monotonic() - started) * 1000
    assert out["stdout"] == "Success!\n", out
    return elapsed


def measure(root, lang, n, tmp):
    """(p50 ms, busy CPU ms per run) of one build for one language."""
    service.BIN = os.path.join(os.path.abspath(root), "target/release/whipcode")
    proc, url = service.start(tmp, KEY, f"cmp{os.getpid()}", ["--pool-size", "1"])
    try:
        run(url, lang)  # the image's first start, and the pool filled
        time.sleep(1.5)
        before = service.busy_ms()
        latencies = [run(url, lang) for _ in range(n)]
        time.sleep(1.5)  # the last container removed and the pool refilled
        cpu = (service.busy_ms() - before - idle_ms_per_s * 3) / n
    finally:
        proc.terminate()
        proc.wait(60)
    return statistics.median(latencies), cpu


def spread(values, digits=1):
    return f"{statistics.median(values):7.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main():
    global idle_ms_per_s
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="checkout of the baseline build")
    ap.add_argument("--b", required=True, help="checkout of the build under test")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    start = service.busy_ms()
    time.sleep(3)
    idle_ms_per_s = (service.busy_ms() - start) / 3
    print(f"A = {args.a}, B = {args.b}; {args.rounds} rounds of {args.n} runs per language; "
          f"idle machine busy {idle_ms_per_s:.0f} ms/s (subtracted)")
    figures = {(build, lang): [] for build in "AB" for lang in PROGRAMS}
    for r in range(args.rounds):
        order = "AB" if r % 2 == 0 else "BA"
        for build in order:
            for lang in PROGRAMS:
                figures[(build, lang)].append(measure(args.a if build == "A" else args.b, lang, args.n, tmp))
        print(f"  round {r + 1}: " + ", ".join(
            f"{b} {lang} p50 {figures[(b, lang)][-1][0]:.1f} ms cpu {figures[(b, lang)][-1][1]:.0f} ms"
            for b in "AB" for lang in PROGRAMS), flush=True)
    print(f"\n{'':10} {'':6} {'p50 ms (min-max)':>24} {'busy CPU ms/run (min-max)':>28}")
    for lang in PROGRAMS:
        for build in "AB":
            got = figures[(build, lang)]
            print(f"{lang:10} {build:6} {spread([g[0] for g in got]):>24} {spread([g[1] for g in got]):>28}")
        a, b = figures[("A", lang)], figures[("B", lang)]
        p50 = [y[0] / x[0] for x, y in zip(a, b)]
        cpu = [y[1] / x[1] for x, y in zip(a, b)]
        print(f"{lang:10} {'B/A':6} {spread(p50, 2):>24} {spread(cpu, 2):>28}")


if __name__ == "__main__":
    main()
