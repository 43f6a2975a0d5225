"""The cost of a user namespace of its own per run: the cold path (pool off)
with --userns per-run (the default) against --userns host, interleaved.

Usage: ./task build && python3 bench/userns_cost.py
"""
import sys, os, json, time, base64, uuid, statistics, tempfile, urllib.request
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service
KEY = "usercost-key"
def run(url, code):
    body = json.dumps({"language_id": 1, "code": base64.b64encode(code.encode()).decode()}).encode()
    req = urllib.request.Request(url + "/run", data=body, headers={"Content-Type": "application/json", "X-Master-Key": KEY})
    t = time.perf_counter(); urllib.request.urlopen(req).read(); return time.perf_counter() - t
res = {"per-run": [], "host": []}
tmp = tempfile.mkdtemp()
for rnd in range(3):
    for mode in res:
        proc, url = service.start(tmp, KEY, f"cost{os.getpid()}{mode}{rnd}".replace("-", ""), ["--pool-size", "0", "--userns", mode])
        run(url, "print(1)")
        for _ in range(15):
            res[mode].append(run(url, f"print('{uuid.uuid4()}')"))
        proc.terminate(); proc.wait()
for mode, v in res.items():
    print(f"{mode:8} cold path p50 {statistics.median(v)*1000:.0f} ms (n={len(v)})")
print(f"cost of a user namespace per run: {(statistics.median(res['per-run']) - statistics.median(res['host']))*1000:.0f} ms")
