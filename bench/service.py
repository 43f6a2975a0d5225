"""Starting a whipcode instance for the benchmarks: a fresh key, a free port."""
import os, subprocess, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/whipcode")


TICK = os.sysconf("SC_CLK_TCK")


def busy_ms():
    """The whole machine's busy CPU so far, in ms (/proc/stat minus idle and iowait)."""
    fields = list(map(int, open("/proc/stat").readline().split()[1:]))
    return (sum(fields) - fields[3] - fields[4]) * 1000 / TICK


def start(tmp, key_text, instance, extra=(), log="warn"):
    """Starts the release binary on a free port; returns (process, base url).
    `log` is its RUST_LOG (its stderr lines are kept in `process.log`)."""
    key = os.path.join(tmp, "key")
    port_file = os.path.join(tmp, f"port-{instance}")
    if os.path.exists(port_file):
        os.unlink(port_file)
    subprocess.run([BIN, "--gen-key", "--force", "-k", key], env={**os.environ, "WHIPCODE_MASTER_KEY": key_text},
                   check=True, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([BIN, "-a", "127.0.0.1", "-p", "0", "-k", key, "--instance", instance,
                             "--port-file", port_file, *extra],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": log})
    proc.log = []  # the server's warnings and errors, for the report
    threading.Thread(target=lambda: [proc.log.append(l.rstrip()) for l in proc.stderr], daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                return proc, f"http://127.0.0.1:{f.read().strip()}"
        if proc.poll() is not None:
            raise SystemExit("service exited: " + "\n".join(proc.log))
        time.sleep(0.02)
    raise SystemExit("service did not start")
