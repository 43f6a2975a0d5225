"""Starting a whipcode instance for the benchmarks: a fresh key, a free port."""
import os, re, subprocess, threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/whipcode")


def start(tmp, key_text, instance, extra=()):
    """Starts the release binary; returns (process, base url)."""
    key = os.path.join(tmp, "key")
    subprocess.run([BIN, "--gen-key", "--force", "-k", key], env={**os.environ, "WHIPCODE_MASTER_KEY": key_text},
                   check=True, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen([BIN, "-a", "127.0.0.1", "-p", "0", "-k", key, "--instance", instance, *extra],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn"})
    for line in proc.stderr:
        m = re.match(r"whipcode listening on (\S+)", line)
        if m:
            proc.log = []  # the server's warnings and errors, for the report
            threading.Thread(target=lambda: [proc.log.append(l.rstrip()) for l in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("service did not start")
