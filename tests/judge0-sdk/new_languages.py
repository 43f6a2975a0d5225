#!/usr/bin/env python3
"""Judge0's official Python SDK, unmodified, judging programs in two of the
languages Judge0 CE has that whipcode added from Debian: Pascal (compiled,
Free Pascal) and Erlang (interpreted, an escript), each picked by the SDK's
own alias and judged by expected_output.

    new_languages.py BASE_URL      (the key in WHIPCODE_MASTER_KEY)
"""
import os
import sys

import judge0
from judge0.clients import Client

PASCAL = """program Double;
var
  n: integer;
begin
  readln(n);
  writeln(n * 2);
end.
"""

# As Judge0's users write it: no #! line (escript skips a script's first
# line; whipcode, like Judge0, gives such a program an empty one).
ERLANG = """main(_) ->
    {ok, [N]} = io:fread("", "~d"),
    io:format("~B~n", [N * 2]).
"""


def check(what, condition):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def judged(client, language, source):
    cases = judge0.run(client=client, source_code=source, language=language,
                       test_cases=[("21", "42"), ("5", "11")])
    return [c.status for c in cases], [c.stdout for c in cases]


def main():
    client = Client(sys.argv[1].rstrip("/"), {"X-Auth-Token": os.environ["WHIPCODE_MASTER_KEY"]})
    for name, alias, source in [("Pascal", judge0.PASCAL, PASCAL), ("Erlang", judge0.ERLANG, ERLANG)]:
        statuses, stdouts = judged(client, alias, source)
        check(f"{name} by expected_output: {statuses} {stdouts!r}",
              statuses == [judge0.Status.ACCEPTED, judge0.Status.WRONG_ANSWER]
              and stdouts == ["42\n", "10\n"])
    broken = judge0.run(client=client, source_code="program Broken; begin writeln(1 end.",
                        language=judge0.PASCAL)
    check(f"a Pascal compile error: {broken.status}",
          broken.status == judge0.Status.COMPILATION_ERROR and bool(broken.compile_output))
    print("the SDK judges both languages unchanged")


if __name__ == "__main__":
    main()
