#!/usr/bin/env python3
"""Judge0's official Python SDK, unmodified, against this server's
asynchronous API: a submission by language alias, test cases (Accepted and
Wrong Answer) and a batch, each submitted with wait=false and polled by the
SDK itself.

    run_async.py BASE_URL      (the key in WHIPCODE_MASTER_KEY)
"""
import os
import sys

import judge0
from judge0.clients import Client


def check(what, condition):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def main():
    client = Client(sys.argv[1].rstrip("/"), {"X-Auth-Token": os.environ["WHIPCODE_MASTER_KEY"]})
    one = judge0.run(client=client, source_code="print(input()[::-1])", language=judge0.PYTHON, stdin="olleh")
    check(f"one submission by alias: {one.status} {one.stdout!r}",
          one.status == judge0.Status.ACCEPTED and one.stdout == "hello\n")
    cases = judge0.run(client=client, source_code="print(int(input()) * 2)", language=judge0.PYTHON,
                       test_cases=[("2", "4"), ("3", "7")])
    check(f"test cases: {[c.status for c in cases]}",
          [c.status for c in cases] == [judge0.Status.ACCEPTED, judge0.Status.WRONG_ANSWER])
    batch = [judge0.Submission(source_code=f"#include <stdio.h>\nint main(void) {{ printf(\"{i}\\n\"); }}",
                               language=judge0.C) for i in range(5)]
    done = judge0.run(client=client, submissions=batch)
    check(f"a batch of five in C: {[s.stdout for s in done]}",
          [s.stdout for s in done] == [f"{i}\n" for i in range(5)]
          and all(s.status == judge0.Status.ACCEPTED for s in done))
    print("the SDK runs everything unchanged")


if __name__ == "__main__":
    main()
