#!/usr/bin/env python3
"""Where a container's CPU goes, per process: N python hello worlds one after
another through the real service (pool on) on each engine (crun, then
podman), then the same through the baseline (`podman run --rm` with the
original's flags), on an idle machine; the ratios of the totals at the end.

For each, busy CPU system-wide per run (/proc/stat) and its split:
  - whipcode server            /proc/PID/stat of the server
  - crun (crun engine)         the server's reaped children (`crun run`, `crun
                               kill`, the containers), less the program
  - podman REST API service    /proc/PID/stat of `podman system service`
  - runc run by the service    the service's reaped children (start, kill, delete)
  - conmon + runc create       the cgroup podman puts every conmon in
    (+ podman's exit command, where it still runs: the baseline)
  - `podman run` CLI           the baseline's own process (reaped by this script)
  - the program                python's CPU as the runner reports it (cpu_time)
  - rest                       kernel threads, this script, idle noise

Also, for reference, the floor: `crun run` of the same python program on the
same image root with the same OCI policy, less the seccomp filter and the
runner, straight from this script.

Usage: ./task build && python3 bench/cpu_per_container.py [--n 20] [--rounds 2]
"""
import argparse, base64, glob, json, os, statistics, resource, subprocess, tempfile, time, urllib.request, uuid

import service

KEY = "cpu-bench-key"
CONMON_CGROUP = "/sys/fs/cgroup/cpuacct/libpod_parent/conmon/cpuacct.usage"
TICK = os.sysconf("SC_CLK_TCK")


def proc_ms(pid):
    """(own CPU, reaped children's CPU) of a process, in ms."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000 / TICK, (int(f[13]) + int(f[14])) * 1000 / TICK


def conmon_ms():
    try:
        return int(open(CONMON_CGROUP).read()) / 1e6
    except OSError:
        return float("nan")


def service_pid(server_pid):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat[1]) == server_pid and b"system\0service\0" in cmd:
            return int(entry)
    raise SystemExit("podman's REST API service not found")


def run(url, code):
    body = json.dumps({"language_id": 1, "code": base64.b64encode(code.encode()).decode()}).encode()
    req = urllib.request.Request(url + "/run", body, {"Content-Type": "application/json", "X-Master-Key": KEY})
    with urllib.request.urlopen(req, timeout=60) as r:
        out = json.load(r)
    assert out["stdout"] == "1\n", out
    return out["cpu_time"] or 0.0


def line(name, ms):
    print(f"  {name:<34} {ms:7.1f} ms")


def measure_service(n, tmp, engine):
    proc, url = service.start(tmp, KEY, f"cpu{os.getpid()}", ["--pool-size", "1", "--engine", engine])
    try:
        svc = service_pid(proc.pid)
        run(url, "print(1)")
        time.sleep(2)
        b0, w0, s0, c0 = service.busy_ms(), proc_ms(proc.pid), proc_ms(svc), conmon_ms()
        program = 0.0
        for _ in range(n):
            program += run(url, f"print(1)  # {uuid.uuid4().hex}") * 1000
            time.sleep(0.5)  # the warm container is replaced and the used one removed
        time.sleep(2)
        b1, w1, s1, c1 = service.busy_ms(), proc_ms(proc.pid), proc_ms(svc), conmon_ms()
    finally:
        proc.terminate()
        proc.wait(60)
    total = (b1 - b0) / n
    parts = {"whipcode server": (w1[0] - w0[0]) / n}
    if engine == "crun":
        parts["crun (run, kill) and its init"] = (w1[1] - w0[1] - program) / n
    parts["podman REST API service"] = (s1[0] - s0[0]) / n
    if engine == "podman":
        parts["runc run by the service"] = (s1[1] - s0[1]) / n
        parts["conmon + runc create"] = (c1 - c0) / n
    parts["the program (runner + python, cgroup)"] = program / n
    return total, parts


def measure_baseline(n, tmp, conf):
    import bench
    b0, r0, c0 = service.busy_ms(), resource.getrusage(resource.RUSAGE_CHILDREN), conmon_ms()
    for _ in range(n):
        bench.baseline("python", conf, tmp)
        time.sleep(0.5)
    time.sleep(2)
    b1, r1, c1 = service.busy_ms(), resource.getrusage(resource.RUSAGE_CHILDREN), conmon_ms()
    cli = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000 / n
    total = (b1 - b0) / n
    return total, {
        "`podman run` CLI": cli,
        "conmon + runc + podman exit command": (c1 - c0) / n,
    }


def measure_crun_floor(n, tmp):
    """crun alone: `crun run` of python printing 1, n times, on the python
    image's root as podman mounts it, with the service's own OCI policy
    (user namespace, mounts, limits, a cgroup per run) minus its seccomp
    filter and its runner: what the crun engine costs at least."""
    policy = json.loads(subprocess.check_output([service.BIN, "--print-policy", "python"]))
    config = policy["oci_config"]
    image = "localhost/whipcode-python:latest"
    image_id = subprocess.check_output(["podman", "image", "inspect", "--format", "{{.Id}}", image], text=True).strip()
    merged = subprocess.check_output(["podman", "image", "mount", image_id], text=True).strip()
    root = os.path.join(tmp, "floor-root")
    os.makedirs(root, exist_ok=True)
    os.chmod(tmp, 0o755)
    subprocess.run(["mount", "--bind", merged, root], check=True)
    bundle, state = os.path.join(tmp, "floor-bundle"), os.path.join(tmp, "floor-state")
    os.makedirs(bundle, exist_ok=True)
    config["root"]["path"] = root
    config["process"]["args"] = ["python3", "-c", "print(1)"]
    config["mounts"] = [m for m in config["mounts"] if not m["destination"].endswith("whipcode-runner")]
    config["linux"].pop("seccomp", None)
    try:
        b0, r0 = service.busy_ms(), resource.getrusage(resource.RUSAGE_CHILDREN)
        for i in range(n):
            config["linux"]["cgroupsPath"] = f"/whipcode-floor/{os.getpid()}-{i}"
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump(config, f)
            out = subprocess.run(["crun", "--root", state, "run", "--bundle", bundle, f"floor-{os.getpid()}-{i}"],
                                 stdin=subprocess.DEVNULL, capture_output=True)
            assert out.stdout == b"1\n", out
            time.sleep(0.5)
        time.sleep(2)
        b1, r1 = service.busy_ms(), resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        subprocess.run(["umount", root])
        subprocess.run(["podman", "image", "unmount", image_id], capture_output=True)
        for d in glob.glob("/sys/fs/cgroup/*/whipcode-floor"):
            try:
                os.rmdir(d)
            except OSError:
                pass
    crun = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000 / n
    return (b1 - b0) / n, {"crun run (and python, reaped by it)": crun}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians reported")
    ap.add_argument("--no-baseline", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    policy = json.loads(subprocess.check_output([service.BIN, "--print-policy", "python"]))
    conf = os.path.join(tmp, "containers.conf")
    with open(conf, "w") as f:
        f.write(policy["containers_conf"])
    idle0 = service.busy_ms()
    time.sleep(5)
    idle = (service.busy_ms() - idle0) / 5
    print(f"{a.n} python hello worlds one after another, {a.rounds} interleaved rounds; "
          f"idle machine busy {idle:.0f} ms/s")
    systems = {
        "whipcode --engine crun (warm pool)": lambda: measure_service(a.n, tmp, "crun"),
        "whipcode --engine podman (REST API service, warm pool)": lambda: measure_service(a.n, tmp, "podman"),
    }
    systems["floor: crun alone, the same policy without its filter and runner"] = lambda: measure_crun_floor(a.n, tmp)
    if not a.no_baseline:
        systems["baseline (podman run --rm, original's flags)"] = lambda: measure_baseline(a.n, tmp, conf)
    results = {name: [] for name in systems}
    for _ in range(a.rounds):
        for name, measure in systems.items():
            results[name].append(measure())
    totals = {}
    for name, rounds in results.items():
        totals[name] = statistics.median(t for t, _ in rounds)
        print(f"\n{name}: {totals[name]:.0f} ms of busy CPU per run (median of {a.rounds}; "
              + ", ".join(f"{t:.0f}" for t, _ in rounds) + ")")
        for part in rounds[0][1]:
            line(part, statistics.median(p[part] for _, p in rounds))
        line("rest (kernel threads, client, idle)", totals[name] - sum(
            statistics.median(p[k] for _, p in rounds) for k in rounds[0][1]))
    names = list(totals)
    print(f"\nratio of busy CPU per run, crun/podman: {totals[names[0]] / totals[names[1]]:.2f}")


if __name__ == "__main__":
    main()
