#!/usr/bin/env python3
"""The first example of the official SDK's README, unchanged: no client
given, so the SDK builds its clients from the environment
(JUDGE0_CE_ENDPOINT and JUDGE0_EXTRA_CE_ENDPOINT, with their
*_AUTH_HEADERS) and picks the flavour whose ids have the language. The
example names none, so the SDK's default, Python for ML, which only Judge0
Extra CE has: it must run on the Extra CE path. Then a language both
flavours have (C), which the SDK tries on Judge0 CE first.

    readme_example.py     (the endpoints and headers in the environment)
"""
import sys

import judge0


def check(what, condition):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def main():
    # The README's lines, as written there.
    result = judge0.run(source_code="print('hello, world')")
    check(f"the README's example: {result.status} {result.stdout!r}",
          result.stdout == "hello, world\n" and result.status == judge0.Status.ACCEPTED)
    c = judge0.run(source_code='#include <stdio.h>\nint main(void) { puts("from C"); }',
                   language=judge0.C)
    check(f"C by its alias: {c.status} {c.stdout!r}", c.stdout == "from C\n")
    print("the README's example runs unchanged")


if __name__ == "__main__":
    main()
