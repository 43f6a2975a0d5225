"""HAProxy in front of instances for the benchmarks: the shipped example
(deploy/haproxy-whipcode.cfg) with only its key, addresses, stats socket and
log filled in, as the tests fill it (tests/common/haproxy.rs)."""
import contextlib, os, shutil, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_SERVERS = ("    server whipcode1 10.0.0.11:8000\n"
                   "    server whipcode2 10.0.0.12:8000\n"
                   "    server whipcode3 10.0.0.13:8000\n")


def config(tmp, port, urls, key):
    text = open(os.path.join(ROOT, "deploy/haproxy-whipcode.cfg")).read()
    servers = "".join(f"    server whipcode{i + 1} {url.split('://')[1]}\n" for i, url in enumerate(urls))
    for old, new in [("REPLACE_WITH_THE_MASTER_KEY", key), ("bind :2000", f"bind 127.0.0.1:{port}"),
                     ("stats socket /run/haproxy/admin.sock", f"stats socket {tmp}/haproxy-admin.sock"),
                     ("log /dev/log local0", "log stdout format raw local0"), (EXAMPLE_SERVERS, servers)]:
        if old not in text:
            raise SystemExit(f"deploy/haproxy-whipcode.cfg no longer has {old!r}: update bench/balancer.py")
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def haproxy(tmp, urls, key):
    """HAProxy on a free loopback port in front of `urls`; its URL once every
    instance's health check passed."""
    if not shutil.which("haproxy"):
        raise SystemExit("haproxy is not installed (Debian's haproxy package)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = os.path.join(tmp, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(config(tmp, port, urls, key))
    proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all_up(tmp, len(urls)):
                yield url
                return
            time.sleep(0.2)
        raise SystemExit("HAProxy's checks never found every instance up")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def all_up(tmp, count):
    """Whether the stats socket shows `count` servers UP."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(f"{tmp}/haproxy-admin.sock")
            s.sendall(b"show stat\n")
            text = b""
            while chunk := s.recv(65536):
                text += chunk
    except OSError:
        return False
    return sum(1 for line in text.decode().splitlines() if ",UP," in line and line.startswith("whipcode,whipcode")) == count
