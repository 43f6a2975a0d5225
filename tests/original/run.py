#!/usr/bin/env python3
"""Runs the original whipcode's own test programs (programs.toml beside
this file) through a running whipcode, as the original's tests would.

    run.py URL     (the key in WHIPCODE_MASTER_KEY)

Each installed language's program is run. A program passes
when its stdout holds "Success!"; one with `expected_failure` must fail, and
its reason is printed. Exits 1 when any result is not the expected one.
"""
import base64
import json
import os
import pathlib
import sys
import tomllib
import urllib.request


def call(url, key, path, body=None):
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Master-Key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main():
    url, key = sys.argv[1].rstrip("/"), os.environ["WHIPCODE_MASTER_KEY"]
    programs = tomllib.loads((pathlib.Path(__file__).parent / "programs.toml").read_text())
    _, listing = call(url, key, "/languages")
    installed = {l["id"]: l["name"] for l in listing["languages"] if l["installed"]}
    bad = 0
    for id_text, program in sorted(programs.items(), key=lambda kv: int(kv[0])):
        lang = int(id_text)
        if lang not in installed:
            continue
        status, body = call(url, key, "/run", {
            "language_id": lang,
            "code": base64.b64encode(program["code"].encode()).decode(),
        })
        passed = status == 200 and "Success!" in body.get("stdout", "")
        expected = program.get("expected_failure")
        name = installed[lang]
        if passed and not expected:
            print(f"{lang:>4}  {name:<30} ok")
        elif not passed and expected:
            print(f"{lang:>4}  {name:<30} fails, as expected: {expected}")
        else:
            bad += 1
            why = "passed, but was expected to fail" if passed else f"HTTP {status}: {json.dumps(body)[:400]}"
            print(f"{lang:>4}  {name:<30} FAIL: {why}")
    print("the original's programs: " + ("all as expected" if not bad else f"{bad} not as expected"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
