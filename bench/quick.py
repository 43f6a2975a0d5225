#!/usr/bin/env python3
"""Quick latency/throughput check: whipcode's POST /run against plain
`podman run --rm` with the same flags, same image, same job, same machine,
in interleaved rounds. Usage: python3 bench/quick.py [--rounds N]

Prints p50 latency at concurrency 1 and runs/s at concurrency 8 for both,
and the ratios. Needs a release build (./task build) and the python image.
"""
import argparse, json, os, re, signal, statistics, struct, subprocess, tempfile, threading, time, urllib.request, uuid, base64

import service

BIN = service.BIN
KEY = "bench-key"


def frame(tag, payload):
    return tag.encode() + struct.pack(">I", len(payload)) + payload


def job(code, steps, env):
    out = frame("H", struct.pack(">I", 1)) + frame("W", b"/tmp")
    name = b"source.py"
    out += frame("F", struct.pack(">H", len(name)) + name + code)
    for k, v in env.items():
        out += frame("E", f"{k}\0{v}".encode())
    for step in steps:
        out += frame("S", "\0".join(step).encode())
    return out + frame("I", b"") + frame("G", b"")


def unique_code():
    return f"print('Success!')  # {uuid.uuid4().hex}".encode()


def start_service(tmp):
    return service.start(tmp, KEY, "bench")


def via_service(url):
    body = json.dumps({"language_id": 1, "code": base64.b64encode(unique_code()).decode()}).encode()
    req = urllib.request.Request(url + "/run", body, {"Content-Type": "application/json", "X-Master-Key": KEY})
    with urllib.request.urlopen(req, timeout=120) as r:
        out = json.load(r)
    assert out["stdout"] == "Success!\n", out


def via_podman(policy, conf):
    argv = list(policy["podman"])
    argv = [a if not a.startswith("--name=") else f"--name=whipcode-bench-{uuid.uuid4().hex[:12]}" for a in argv if not a.startswith("--cidfile=")]
    p = subprocess.run(argv, input=job(unique_code(), policy["steps"], policy["env"]), capture_output=True, env={**os.environ, "CONTAINERS_CONF": conf})
    assert b"Success!" in p.stdout, p.stderr


def latency(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def throughput(fn, total, conc):
    left = [total]; lock = threading.Lock()
    def worker():
        while True:
            with lock:
                if left[0] == 0: return
                left[0] -= 1
            fn()
    t = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    [th.start() for th in threads]; [th.join() for th in threads]
    return total / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n", type=int, default=20)
    a = ap.parse_args()
    policy = json.loads(subprocess.check_output([BIN, "--print-policy", "python", "--instance", "bench"]))
    tmp = tempfile.mkdtemp()
    conf = os.path.join(tmp, "containers.conf")
    open(conf, "w").write(policy["containers_conf"])
    res = {"svc_p50": [], "pod_p50": [], "svc_rps": [], "pod_rps": []}
    for r in range(a.rounds):
        proc, url = start_service(tmp)
        via_service(url)  # warm
        res["svc_p50"].append(latency(lambda: via_service(url), a.n))
        res["svc_rps"].append(throughput(lambda: via_service(url), a.n * 2, 8))
        proc.send_signal(signal.SIGTERM); proc.wait(60)
        time.sleep(2)
        res["pod_p50"].append(latency(lambda: via_podman(policy, conf), a.n))
        res["pod_rps"].append(throughput(lambda: via_podman(policy, conf), a.n * 2, 8))
        time.sleep(2)
        print(f"round {r + 1}: " + ", ".join(f"{k}={v[-1]:.3f}" for k, v in res.items()), flush=True)
    m = {k: statistics.median(v) for k, v in res.items()}
    print(f"\npython hello world, {a.rounds} interleaved rounds, {a.n} runs per latency sample, medians:")
    print(f"  p50 at c=1:   whipcode {m['svc_p50']*1000:.0f} ms   podman run --rm {m['pod_p50']*1000:.0f} ms   ratio {m['svc_p50']/m['pod_p50']:.2f}")
    print(f"  runs/s c=8:   whipcode {m['svc_rps']:.1f}      podman run --rm {m['pod_rps']:.1f}      ratio {m['svc_rps']/m['pod_rps']:.2f}")
    left = subprocess.check_output(["podman", "ps", "-a", "-q", "--filter", "label=whipcode.project=whipcode"]).decode().split()
    print(f"  whipcode containers left: {len(left)}")


if __name__ == "__main__":
    main()
