#!/usr/bin/env python3
"""Soak: a long mixed load on one server, watched over time.

For --minutes (30 by default), --clients loops each pick a job at random:
the core languages through all three APIs (whipcode's /run, Piston's
/api/v2/execute, Judge0's wait=true and its asynchronous submit-and-poll),
compile errors, timeouts, output floods, memory bombs, and clients that
hang up mid-run. Each answer is checked against what that job must give.

Every --every seconds it samples the server's and its podman service's
memory (RSS) and open descriptors, the containers present on the host, the
error counts, and the latency percentiles of the window; /metrics is
scraped from --metrics-addr (no key) for the server's own view. At the end
it says whether anything grew without bound: a figure whose last third is
well above its first third *and* still rising through the second half.

    python3 bench/soak.py [--minutes 30] [--clients 4] [--every 30]
                          [--binary target/release/whipcode] [--out target/soak]

Needs root, podman and the core images (./task setup). Prints a table as it
goes and writes <out>/samples.json and <out>/summary.txt.
"""
import argparse, base64, json, os, random, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "soak-bench-key"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def call(url, path, body=None, timeout=120, headers=None):
    req = urllib.request.Request(f"{url}{path}", data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json", "X-Master-Key": KEY,
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.load(e)
        except Exception:
            return e.code, None


def unique(code, comment="#"):
    return f"{comment} {uuid.uuid4()}\n{code}"


# Each job: (name, weight, function(url) -> None or an error string).
def run_job(lang, code, expect, comment="#", extra=None):
    def job(url):
        status, body = call(url, "/run", {"language_id": lang, "code": b64(unique(code, comment)), **(extra or {})})
        if status != 200:
            return f"status {status}: {body}"
        return expect(body)
    return job


def stdout_is(text):
    return lambda body: None if body.get("stdout") == text else f"stdout {body.get('stdout')!r}"


def piston(language, code, text):
    def job(url):
        status, body = call(url, "/api/v2/execute", {"language": language, "version": "*",
                                                     "files": [{"content": unique(code, "//" if language == "c" else "#")}]})
        if status != 200:
            return f"status {status}: {body}"
        return None if body["run"]["stdout"] == text else f"piston stdout {body['run']['stdout']!r}"
    return job


def judge0_wait(url):
    status, body = call(url, "/judge0/submissions?wait=true",
                        {"language_id": 71, "source_code": unique("print(7*6)"), "expected_output": "42"})
    if status != 201:
        return f"status {status}: {body}"
    return None if body["status"]["id"] == 3 else f"judge0 status {body['status']}"


def judge0_async(url):
    status, body = call(url, "/judge0/submissions", {"language_id": 71, "source_code": unique("print(6*7)")})
    if status != 201:
        return f"status {status}: {body}"
    token = body["token"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, body = call(url, f"/judge0/submissions/{token}?fields=status_id,stdout")
        if status != 200:
            return f"poll status {status}: {body}"
        if body["status_id"] >= 3:
            return None if body["stdout"] == "42\n" else f"judge0 async {body}"
        time.sleep(0.1)
    return "judge0 async: no verdict in 120 s"


def hang_up(url):
    """Sends a run that sleeps, then closes the connection before the answer."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"language_id": 1, "code": b64(unique("import time\ntime.sleep(5)"))}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"X-Master-Key: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(random.uniform(0.2, 1.5))
    return None


JOBS = [
    ("python", 10, run_job(1, "print('hi')", stdout_is("hi\n"))),
    ("javascript", 6, run_job(2, "console.log('hi')", stdout_is("hi\n"), "//")),
    ("bash", 6, run_job(3, "echo hi", stdout_is("hi\n"))),
    ("c", 5, run_job(7, "#include <stdio.h>\nint main(){puts(\"hi\");}", stdout_is("hi\n"), "//")),
    ("java", 3, run_job(12, "class Main{public static void main(String[] a){System.out.println(\"hi\");}}",
                        stdout_is("hi\n"), "//")),
    ("piston-python", 5, piston("python", "print('hi')", "hi\n")),
    ("piston-c", 3, piston("c", "#include <stdio.h>\nint main(){puts(\"hi\");}", "hi\n")),
    ("judge0-wait", 5, judge0_wait),
    ("judge0-async", 5, judge0_async),
    ("compile-error", 3, run_job(7, "int main(){ return }", lambda b: None if b["exit_code"] not in (0, None)
                                 else f"compile error exit {b['exit_code']}", "//")),
    ("timeout", 3, run_job(1, "while True: pass", lambda b: None if b["timeout"] else "no timeout",
                           extra={"timeout": 2})),
    ("flood", 3, run_job(1, "import sys\nwhile True: sys.stdout.write('x' * 65536)",
                         lambda b: None if b["truncated"] else "not truncated")),
    ("memory-bomb", 3, run_job(1, "a = []\nwhile True: a.append(bytearray(64 << 20))",
                               lambda b: None if b["oom_killed"] or b["exit_code"] not in (0, None) or b["signal"]
                               else f"memory bomb: {b}")),
    ("hang-up", 2, hang_up),
]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []  # (name, seconds) of the current window
        self.done = 0
        self.errors = []  # (t, name, why)

    def record(self, name, took, error):
        with self.lock:
            self.done += 1
            if name != "hang-up":
                self.latencies.append(took)
            if error:
                self.errors.append((time.time(), name, error[:300]))

    def window(self):
        with self.lock:
            window, self.latencies = self.latencies, []
            return window, self.done, len(self.errors)


def client(url, tally, stop, seed):
    rnd = random.Random(seed)
    weights = [w for _, w, _ in JOBS]
    while not stop.is_set():
        name, _, job = rnd.choices(JOBS, weights)[0]
        started = time.monotonic()
        try:
            error = job(url)
        except Exception as e:  # a refused connection, a timeout: an error
            error = f"{type(e).__name__}: {e}"
        tally.record(name, time.monotonic() - started, error)


def proc_figures(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) // 1024
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds
    except (OSError, StopIteration):
        return None, None


def podman_service_pid(server_pid):
    for child in open(f"/proc/{server_pid}/task/{server_pid}/children").read().split():
        try:
            cmd = open(f"/proc/{child}/cmdline").read()
        except OSError:
            continue
        if "system" in cmd and "service" in cmd:
            return int(child)
    return None


def containers():
    out = subprocess.run(["podman", "ps", "-aq"], capture_output=True, text=True).stdout
    return len(out.split())


def conmons():
    out = subprocess.run(["pgrep", "-c", "conmon"], capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def scrape(metrics_url):
    try:
        with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=10) as r:
            text = r.read().decode()
    except Exception:
        return {}
    wanted = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{")[0]
        if base in ("whipcode_runs_total", "whipcode_pool_hits_total", "whipcode_pool_misses_total",
                    "whipcode_container_create_failures_total", "whipcode_container_remove_failures_total",
                    "whipcode_podman_service_restarts_total", "whipcode_judge0_store_bytes"):
            wanted[base] = wanted.get(base, 0) + float(value)
    return wanted


def pct(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def grew(series, name, slack):
    """Whether `series` grew without bound: its last third's median is more
    than `slack` above its first third's and the second half still rises."""
    values = [v for v in series if v is not None]
    if len(values) < 6:
        return None
    third = len(values) // 3
    first, last = statistics.median(values[:third]), statistics.median(values[-third:])
    half = values[len(values) // 2:]
    xs = range(len(half))
    mx, my = statistics.mean(xs), statistics.mean(half)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, half)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
    rising = slope * len(half) > slack / 2
    verdict = "GREW" if last - first > slack and rising else "bounded"
    return f"{name:<22} first third {first:>8.1f}  last third {last:>8.1f}  trend {slope * len(half):>+8.1f}  {verdict}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--binary", default=service.BIN)
    ap.add_argument("--judge0-keep", type=int, default=300,
                    help="seconds finished Judge0 results are kept (so expiry shows within the soak)")
    ap.add_argument("--out", default=os.path.join(service.ROOT, "target/soak"))
    args = ap.parse_args()
    service.BIN = os.path.abspath(args.binary)
    os.makedirs(args.out, exist_ok=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="whipcode-soak-")
    proc, url = service.start(tmp, KEY, f"soak{os.getpid()}",
                              ["--metrics-addr", f"127.0.0.1:{metrics_port}", "--pool-size", "4",
                               "--judge0-keep", str(args.judge0_keep)])
    metrics_url = f"http://127.0.0.1:{metrics_port}"
    podman_pid = podman_service_pid(proc.pid)
    print(f"soak: {args.minutes} min, {args.clients} clients, server pid {proc.pid}, podman service pid {podman_pid}")

    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=client, args=(url, tally, stop, i), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    samples = []
    header = (f"{'min':>5} {'done':>6} {'err':>4} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
              f"{'srv MiB':>7} {'srv fd':>6} {'pod MiB':>7} {'pod fd':>6} {'ctrs':>4} {'conmon':>6}")
    print(header)
    started = time.monotonic()
    end = started + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(min(args.every, max(0.0, end - time.monotonic())))
        window, done, errors = tally.window()
        srv_rss, srv_fds = proc_figures(proc.pid)
        podman_pid = podman_service_pid(proc.pid) or podman_pid
        pod_rss, pod_fds = proc_figures(podman_pid) if podman_pid else (None, None)
        sample = {
            "minute": round((time.monotonic() - started) / 60, 2), "done": done, "errors": errors,
            "p50_ms": round(pct(window, 50) * 1000), "p90_ms": round(pct(window, 90) * 1000),
            "p99_ms": round(pct(window, 99) * 1000),
            "server_rss_mib": srv_rss, "server_fds": srv_fds, "podman_rss_mib": pod_rss, "podman_fds": pod_fds,
            "containers": containers(), "conmons": conmons(), "metrics": scrape(metrics_url),
        }
        sample["judge0_store_kib"] = round(sample["metrics"].get("whipcode_judge0_store_bytes", 0) / 1024)
        samples.append(sample)
        print(f"{sample['minute']:>5} {done:>6} {errors:>4} {sample['p50_ms']:>7} {sample['p90_ms']:>7} "
              f"{sample['p99_ms']:>7} {srv_rss or 0:>7} {srv_fds or 0:>6} {pod_rss or 0:>7} {pod_fds or 0:>6} "
              f"{sample['containers']:>4} {sample['conmons']:>6}", flush=True)
        if proc.poll() is not None:
            print("the server exited:\n" + "\n".join(proc.log[-20:]))
            break
    stop.set()
    for t in threads:
        t.join(timeout=180)
    time.sleep(5)
    after = {"containers": containers(), "conmons": conmons()}
    proc.terminate()
    proc.wait(timeout=120)
    after_stop = containers()

    with open(os.path.join(args.out, "samples.json"), "w") as f:
        json.dump({"samples": samples, "errors": tally.errors, "args": vars(args)}, f, indent=1)
    lines = [f"soak: {args.minutes} min, {args.clients} clients, {tally.done} jobs, {len(tally.errors)} errors"]
    by_kind = {}
    for _, name, why in tally.errors:
        by_kind.setdefault(name, []).append(why)
    for name, whys in sorted(by_kind.items()):
        lines.append(f"  errors in {name}: {len(whys)} (first: {whys[0]})")
    lat = [s for s in samples if s["p50_ms"]]
    if lat:
        lines.append("latency by window, median of windows: p50 {} ms, p90 {} ms, p99 {} ms".format(
            statistics.median(s["p50_ms"] for s in lat), statistics.median(s["p90_ms"] for s in lat),
            statistics.median(s["p99_ms"] for s in lat)))
    lines.append("growth (first third vs last third of the samples; trend: rise over the second half):")
    for key, slack in [("server_rss_mib", 20), ("server_fds", 20), ("podman_rss_mib", 50), ("podman_fds", 20),
                       ("containers", 10), ("conmons", 10), ("judge0_store_kib", 1024)]:
        verdict = grew([s[key] for s in samples], key, slack)
        if verdict:
            lines.append("  " + verdict)
    final = samples[-1]["metrics"] if samples else {}
    lines.append(f"server's counters at the end: {json.dumps(final)}")
    lines.append(f"after the load: {after['containers']} containers, {after['conmons']} conmon; "
                 f"after SIGTERM: {after_stop} containers; server exit code {proc.returncode}")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
