#!/usr/bin/env python3
"""whipcode's benchmark: the service against a pinned baseline, in one run.

Usage: ./task build && python3 bench/bench.py [--seconds 60] [--rounds 2] [--n 40]
       ./task build && python3 bench/bench.py --quick   (the ~15-minute configuration)
       [--engines crun,podman] [--no-baseline]

The baseline is what the original whipcode does per request: one
`podman run --rm` with the original's flags (read-only root, no network, no
capabilities, 512m memory, 1 CPU, pids 32, nobody, a 64m /tmp, the source
mounted read-only from a host file) on the same image, with the same
containers.conf as the service, run while the service is stopped. Both
engines (`--engine crun`, `--engine podman`) and the baseline alternate in
rounds, so their figures come from the same conditions. Every request runs unique code (a comment
with a fresh uuid), the cache is off.

For python and C hello worlds it prints:
  - latency at concurrency 1: p50, p90, p99 (service with its warm pool; the
    service with the pool off, i.e. the cold path; the baseline),
  - requests/s at concurrency 1, 4, 8, 16, each sustained for --seconds, and
    the second half of each on its own (steady state),
  - the server's own overhead: client time minus the in-container run time
    (container_age), median,
  - the ratios to the baseline and between the engines (crun/podman),
    and the pool size,
  - evidence of one container per run (names all differ; a file written by
    one run is absent in the next), and that no container is left.
"""
import argparse, base64, glob, json, os, signal, statistics, subprocess, tempfile, threading, time, urllib.request, uuid

import service

KEY = "bench-key"
ORIGINAL_FLAGS = [
    "--rm", "--read-only", "--no-hosts", "--network", "none", "--cap-drop", "ALL", "--memory", "512m",
    "--memory-reservation", "128m", "--cpus", "1.0", "--pids-limit", "32", "--user", "nobody",
    "--tmpfs", "/tmp:rw,size=64m,mode=1777", "--security-opt", "no-new-privileges",
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
]
LANGUAGES = {
    "python": {"id": 1, "image": "localhost/whipcode-python:latest", "ext": "py",
               "code": "print('Success!')", "comment": "#",
               "command": "python3 /source.py"},
    "c": {"id": 7, "image": "localhost/whipcode-c:latest", "ext": "c",
          "code": '#include <stdio.h>\nint main(void) { puts("Success!"); return 0; }', "comment": "//",
          "command": "gcc -O2 -o /tmp/a.out /source.c && /tmp/a.out"},
}
CONCURRENCY = [1, 4, 8, 16]


def unique(lang):
    spec = LANGUAGES[lang]
    return f"{spec['code']}\n{spec['comment']} {uuid.uuid4().hex}\n"


class Service:
    def __init__(self, tmp, pool, engine):
        extra = ["--engine", engine] + ([] if pool is None else ["--pool-size", str(pool)])
        self.proc, self.url = service.start(tmp, KEY, f"bench{os.getpid()}", extra, log="info")
        wanted = f'engine="{engine}"'
        deadline = time.monotonic() + 10
        while not any(wanted in l for l in self.proc.log):
            if time.monotonic() > deadline:
                raise SystemExit(f"the service is not on {engine}: " + "\n".join(self.proc.log))
            time.sleep(0.05)
        self.containers = []

    def run(self, lang, code=None):
        code = code or unique(lang)
        body = json.dumps({"language_id": LANGUAGES[lang]["id"],
                           "code": base64.b64encode(code.encode()).decode()}).encode()
        req = urllib.request.Request(self.url + "/run", body,
                                     {"Content-Type": "application/json", "X-Master-Key": KEY})
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as r:
            out = json.load(r)
            self.containers.append(r.headers.get("X-Whipcode-Container"))
            timing = dict(part.strip().split(";dur=") for part in r.headers.get("Server-Timing", "").split(",") if ";dur=" in part)
            out["server_ms"] = float(timing.get("server", "nan"))
        took = time.perf_counter() - started
        if code.startswith(LANGUAGES[lang]["code"]):
            assert out["stdout"] == "Success!\n", out
        return took, out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)


def baseline(lang, conf, tmp):
    spec = LANGUAGES[lang]
    path = os.path.join(tmp, f"source-{uuid.uuid4().hex}.{spec['ext']}")
    with open(path, "w") as f:
        f.write(unique(lang))
    argv = ["podman", "run", *ORIGINAL_FLAGS, "-v", f"{path}:/source.{spec['ext']}:ro",
            spec["image"], "sh", "-c", spec["command"]]
    started = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env={**os.environ, "CONTAINERS_CONF": conf})
    took = time.perf_counter() - started
    os.unlink(path)
    assert p.stdout == b"Success!\n", p.stderr
    return took


def percentiles(samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(round(q * (len(s) - 1))))]
    return pick(0.5), pick(0.9), pick(0.99)


def sustained(fn, conc, seconds):
    """Requests/s over the whole window and over its second half."""
    done = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker():
        while time.perf_counter() < stop_at:
            fn()
            with lock:
                done.append(time.perf_counter())

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    half = began + seconds / 2
    second_half = [t for t in done if half <= t <= began + seconds]
    return len(done) / (time.perf_counter() - began), len(second_half) / (seconds / 2)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60, help="each sustained-throughput window")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n", type=int, default=40, help="latency samples per round")
    ap.add_argument("--languages", default="python,c")
    ap.add_argument("--engines", default="crun,podman")
    ap.add_argument("--no-baseline", action="store_true", help="the engines only")
    ap.add_argument("--quick", action="store_true",
                    help="the short configuration (~15 min): --seconds 20 --rounds 1 --n 20")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds, a.n = 20, 1, 20
    langs = a.languages.split(",")
    engines = a.engines.split(",")
    systems = engines + ([] if a.no_baseline else ["baseline"])
    tmp = tempfile.mkdtemp()
    policy = json.loads(subprocess.check_output([service.BIN, "--print-policy", "python"]))
    conf = os.path.join(tmp, "containers.conf")
    with open(conf, "w") as f:
        f.write(policy["containers_conf"])

    lat = {(l, w): [] for l in langs for w in systems + [e + " cold" for e in engines]}
    overhead = {(l, e): [] for l in langs for e in engines}
    own = {(l, e): [] for l in langs for e in engines}
    rps = {(l, w, c): [] for l in langs for w in systems for c in CONCURRENCY}
    fresh = None

    for r in range(a.rounds):
        for lang in langs:
            for engine in engines:
                svc = Service(tmp, None, engine)
                svc.run(lang)  # the first run of a language fills its pool
                time.sleep(2)
                for _ in range(a.n):
                    took, out = svc.run(lang)
                    lat[(lang, engine)].append(took)
                    overhead[(lang, engine)].append(took - out["container_age"])
                    own[(lang, engine)].append(out["server_ms"])
                    time.sleep(0.4)  # let the pool refill: this is latency, not throughput
                for c in CONCURRENCY:
                    rps[(lang, engine, c)].append(sustained(lambda: svc.run(lang), c, a.seconds))
                if fresh is None:
                    probe = "import os\nprint('present' if os.path.exists('/tmp/marker') else 'absent')\nopen('/tmp/marker','w').write('x')"
                    outs = [svc.run("python", probe)[1]["stdout"] for _ in range(10)]
                    fresh = all(o == "absent\n" for o in outs)
                names = [n for n in svc.containers if n]
                assert len(names) == len(set(names)), "a container served two runs"
                svc.stop()

                svc = Service(tmp, 0, engine)
                for _ in range(max(10, a.n // 2)):
                    lat[(lang, engine + " cold")].append(svc.run(lang)[0])
                svc.stop()
                time.sleep(2)

            if "baseline" in systems:
                for _ in range(a.n):
                    lat[(lang, "baseline")].append(baseline(lang, conf, tmp))
                for c in CONCURRENCY:
                    rps[(lang, "baseline", c)].append(sustained(lambda: baseline(lang, conf, tmp), c, a.seconds))
            print(f"round {r + 1} {lang} done", flush=True)

    left = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=whipcode.project=whipcode"],
                          capture_output=True, text=True).stdout.split()
    left += [b for d in glob.glob("/run/whipcode/crun/*/bundles") for b in os.listdir(d)]
    cpus = os.cpu_count()
    print(f"\nmachine: {cpus} CPUs, {os.uname().release}; {a.rounds} interleaved rounds; "
          f"{a.seconds:g} s per throughput window; pool size {max(2, min(8, cpus))} (default)")
    first = engines[0]
    for lang in langs:
        print(f"\n{lang} hello world (unique code per request)")
        print(f"  latency c=1          p50      p90      p99")
        p50 = {}
        for w in systems + [e + " cold" for e in engines]:
            q50, q90, q99 = percentiles(lat[(lang, w)])
            p50[w] = q50
            print(f"  {w:<16} {q50*1000:6.0f} ms {q90*1000:6.0f} ms {q99*1000:6.0f} ms")
        for e in engines[1:]:
            print(f"  ratio p50 {first}/{e}: {p50[first]/p50[e]:.2f} (cold {p50[first + ' cold']/p50[e + ' cold']:.2f})")
        if "baseline" in systems:
            print("  ratio p50 to the baseline: " + ", ".join(f"{e} {p50[e]/p50['baseline']:.2f}" for e in engines))
        for e in engines:
            print(f"  {e}: server overhead (client time - container_age), median {median(overhead[(lang, e)])*1000:.1f} ms; "
                  f"server's own time (Server-Timing), median {median(own[(lang, e)]):.2f} ms")
        print("  requests/s (whole window, 2nd half in brackets)")
        print("         " + "".join(f"{w:>18}" for w in systems) + "".join(f"   {first}/{e}" for e in engines[1:]))
        for c in CONCURRENCY:
            row = {w: (median([x[0] for x in rps[(lang, w, c)]]), median([x[1] for x in rps[(lang, w, c)]])) for w in systems}
            cells = "".join(f"   {row[w][0]:6.2f} ({row[w][1]:6.2f})" for w in systems)
            ratios = "".join(f"   {row[first][0]/row[e][0]:10.2f}" for e in engines[1:])
            print(f"  c={c:<4}{cells}{ratios}")
    print(f"\none container per run: names all distinct; a file written by one run absent in the next: {fresh}")
    print(f"whipcode containers left: {len(left)}")


if __name__ == "__main__":
    main()
