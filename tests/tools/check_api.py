"""The OpenAPI description checked against the live service.

Starts whipcode (the binary given) on a free port with a fresh key and small
limits, so that no generated request can take long: runs of at most 2 s, a
small body cap, a Judge0 queue of 64. Then:

1. /openapi.json validates as OpenAPI 3.1 (openapi-spec-validator);
2. schemathesis drives every operation with named checks (no server error
   but the described 503s, status codes, content types and bodies as
   described), a fixed number of examples per operation and a fixed seed;
3. the server stops cleanly and leaves no container behind.

usage: check_api.py BINARY RUNNER [--max-examples N]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "schemathesis-key"


def containers(instance):
    out = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=whipcode.instance={instance}"],
                         capture_output=True, text=True).stdout
    return out.split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("runner")
    ap.add_argument("--max-examples", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="whipcode-api-check-")
    key, port_file = os.path.join(tmp, "key"), os.path.join(tmp, "port")
    subprocess.run([args.binary, "--gen-key", "-k", key], env={**os.environ, "WHIPCODE_MASTER_KEY": KEY},
                   check=True, stderr=subprocess.DEVNULL)
    instance = f"api{os.getpid()}"
    server = subprocess.Popen([args.binary, "-a", "127.0.0.1", "-p", "0", "-k", key, "--port-file", port_file,
                               "--instance", instance, "--runner", args.runner, "--timeout", "2",
                               "--max-bytes", "65536", "--judge0-queue", "64", "--pool-size", "2"],
                              stderr=open(os.path.join(tmp, "server.log"), "w"))
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the server did not start:\n" + open(os.path.join(tmp, "server.log")).read())
            time.sleep(0.05)
        base = f"http://127.0.0.1:{open(port_file).read().strip()}"
        with urllib.request.urlopen(f"{base}/openapi.json") as r:
            document = json.load(r)
        from openapi_spec_validator import validate
        validate(document)
        print(f"/openapi.json: valid OpenAPI {document['openapi']}, {len(document['paths'])} paths")
        schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        started = time.monotonic()
        run = subprocess.run([schemathesis, "--config-file", os.path.join(HERE, "schemathesis.toml"), "--no-color",
                              "run", f"{base}/openapi.json", "-H", f"X-Master-Key: {KEY}",
                              "--checks", "not_a_server_error,status_code_conformance,"
                                          "content_type_conformance,response_schema_conformance",
                              "--mode", "all", "--phases", "examples,coverage,fuzzing",
                              "--max-examples", str(args.max_examples), "--seed", "1",
                              "--request-timeout", "30", "--workers", "1", "--generation-database", "none",
                              "--report", "junit", "--report-dir", os.path.join(tmp, "report")],
                             # schemathesis keeps a cache (.schemathesis/) in its working directory:
                             # in the run's own temporary one, so no run sees another's.
                             cwd=tmp)
        print(f"schemathesis took {time.monotonic() - started:.0f} s (exit {run.returncode})")
        if run.returncode != 0:
            sys.exit(f"schemathesis failed; the server's log is in {tmp}/server.log")
    finally:
        server.terminate()
        server.wait(timeout=90)
    left = containers(instance)
    if left:
        sys.exit(f"containers left behind: {left}")
    if server.returncode != 0:
        sys.exit(f"the server exited with {server.returncode}")
    print("the server stopped cleanly and left no container")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
