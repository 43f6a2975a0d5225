#!/usr/bin/env python3
"""Interactive sessions (GET /api/v2/connect): how long a program's line
takes to reach the client, and what waiting sessions cost the server.

1. Latency: one Python session prints a line each time it reads one; the
   client sends a line, stamps the time, and waits for the echo — the time
   from the program's print to the client's `data` message, plus one stdin
   hop (half of it is the figure's floor). p50 and p90 over --lines lines.
2. Memory: --sessions sessions initialised and waiting on stdin at once
   (each holds a running container); the server's RSS before any and with
   all of them open, and per session. Needs --max-concurrent at least
   --sessions (passed to the server here).

    pip install websockets
    python3 bench/interactive.py [--lines 100] [--sessions 20]
"""
import argparse, asyncio, json, os, statistics, sys, tempfile, time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import service  # noqa: E402

KEY = "interactive-bench-key"
ECHO = "import sys\nfor line in sys.stdin:\n    print(line, end='', flush=True)\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


async def opened(url):
    ws = await websockets.connect(url.replace("http://", "ws://") + "/api/v2/connect",
                                  additional_headers={"X-Master-Key": KEY}, max_size=None)
    await ws.send(json.dumps({"type": "init", "language": "python", "version": "*",
                              "files": [{"content": ECHO}]}))
    while True:  # runtime, then the run stage
        message = json.loads(await ws.recv())
        if message.get("type") == "stage":
            return ws


async def latency(url, lines):
    ws = await opened(url)
    times = []
    for i in range(lines + 5):
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "data", "stream": "stdin", "data": f"line {i}\n"}))
        got = ""
        while not got.endswith("\n"):
            message = json.loads(await ws.recv())
            got += message.get("data", "")
        if i >= 5:  # the first lines warm the interpreter's I/O
            times.append((time.monotonic() - sent) * 1000)
    await ws.close()
    return times


async def memory(url, pid, sessions):
    before = rss_kib(pid)
    open_ = [await opened(url) for _ in range(sessions)]
    await asyncio.sleep(1)
    during = rss_kib(pid)
    for ws in open_:
        await ws.close()
    return before, during


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args()
    flags = ["--max-concurrent", str(args.sessions + 2), "--timeout", "60"]
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = service.start(tmp, KEY, f"int{os.getpid()}", flags)
        try:
            times = asyncio.run(latency(url, args.lines))
            before, during = asyncio.run(memory(url, proc.pid, args.sessions))
        finally:
            proc.terminate()
            proc.wait(60)
    q = statistics.quantiles(times, n=10)
    print(f"a line through a session (stdin in, stdout out), {len(times)} lines: "
          f"p50 {statistics.median(times):.2f} ms, p90 {q[8]:.2f} ms")
    print(f"server RSS: {before / 1024:.1f} MiB with no session, {during / 1024:.1f} MiB with "
          f"{args.sessions} waiting on stdin ({(during - before) / args.sessions:.0f} KiB each); "
          f"flags {' '.join(flags)}")


if __name__ == "__main__":
    main()
