#!/usr/bin/env python3
"""Where a container's CPU goes: runs N containers one after another exactly as
the service does (same podman command, same containers.conf, same job through
the runner), then prints the system-wide busy CPU per container and the share
of the `podman run` process itself; the rest is conmon, runc, podman's
cleanup exit command and the kernel. The python program itself is ~20 ms.

Usage: ./task build && python3 bench/cpu_per_container.py [--n 20]
Run it on an otherwise idle machine.
"""
import argparse, json, os, resource, struct, subprocess, time, uuid

import service


def frame(tag, payload):
    return tag.encode() + struct.pack(">I", len(payload)) + payload


def job(policy, code):
    out = frame("H", struct.pack(">I", 1)) + frame("W", b"/tmp")
    out += frame("F", struct.pack(">H", 9) + b"source.py" + code)
    for k, v in policy["env"].items():
        out += frame("E", f"{k}\0{v}".encode())
    for step in policy["steps"]:
        out += frame("S", "\0".join(step).encode())
    return out + frame("I", b"") + frame("G", b"")


def busy_jiffies():
    fields = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    n = ap.parse_args().n
    policy = json.loads(subprocess.check_output([service.BIN, "--print-policy", "python"]))
    conf = "/tmp/whipcode-cpu-bench.conf"
    with open(conf, "w") as f:
        f.write(policy["containers_conf"])
    argv = [a for a in policy["podman"] if not a.startswith("--cidfile=")]
    t0, r0 = busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        named = [a if not a.startswith("--name=") else f"--name=whipcode-cpu-{uuid.uuid4().hex[:10]}" for a in argv]
        p = subprocess.run(named, input=job(policy, f"print(1)  # {uuid.uuid4().hex}".encode()),
                           capture_output=True, env={**os.environ, "CONTAINERS_CONF": conf})
        assert p.returncode == 0, p.stderr
    time.sleep(3)  # podman's cleanup runs after the answer
    t1, r1 = busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (t1 - t0) / os.sysconf("SC_CLK_TCK") / n
    podman = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / n
    print(f"per container: {total * 1000:.0f} ms of busy CPU system-wide; the `podman run` process "
          f"{podman * 1000:.0f} ms; conmon + runc + podman cleanup + kernel {(total - podman) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
