#!/usr/bin/env python3
"""Reads this server's Judge0 endpoints with Judge0's official Python SDK
(PyPI `judge0`) and its own models, as an SDK user's program would.

    check_models.py BASE_URL      (the key in WHIPCODE_MASTER_KEY)

Prints one line per check and exits 1 at the first that fails.
"""
import base64
import datetime
import os
import sys

import httpx
import judge0
from judge0.base_types import Config, Language
from judge0.clients import Client


def check(what, condition):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(1)


def main():
    base, key = sys.argv[1].rstrip("/"), os.environ["WHIPCODE_MASTER_KEY"]
    headers = {"X-Auth-Token": key}
    # The constructor reads /languages and /config_info into the SDK's
    # models (every Config field is required) and raises on any failure.
    client = Client(base, headers)
    check("Config parses every field of /config_info", isinstance(client.config, Config))
    check("Language parses /languages", all(isinstance(l, Language) for l in client.languages))
    check("/about's version picks the SDK's 1.13.1 alias table", client.version == "1.13.1")
    python = client.get_language_id(judge0.PYTHON)
    check(f"the SDK's PYTHON alias ({python}) is a language here", client.is_language_supported(python))
    # (C++, whose alias is 52, is not among the images the tests build.)
    for alias in (judge0.C, judge0.JAVA, judge0.JAVASCRIPT, judge0.CSHARP, judge0.VISUAL_BASIC):
        language = client.get_language_id(alias)
        check(f"the SDK's {alias.name} alias ({language}) is a language here",
              client.is_language_supported(language))
    one = client.get_language(python)
    check("GET /languages/{id} parses", isinstance(one, Language) and one.source_file)
    statuses = client.get_statuses()
    check("every status is the SDK's Status", [judge0.Status(s["id"]) for s in statuses] == list(judge0.Status))

    # A submission as the SDK writes its body, sent with wait=true, and the
    # answer read back by the SDK's own Submission.
    submission = judge0.Submission(source_code="print(input()[::-1])", language=python, stdin="olleh\n")
    body = submission.as_body(client)
    answer = httpx.post(
        f"{base}/submissions",
        params={"base64_encoded": "true", "wait": "true", "fields": "*"},
        json=body,
        headers=headers,
        timeout=120,
    )
    check(f"POST /submissions?wait=true answers 201 ({answer.status_code})", answer.status_code == 201)
    submission.set_attributes(answer.json())
    check("status is Accepted", submission.status == judge0.Status.ACCEPTED)
    check("stdout decodes", submission.stdout == "hello\n")
    check("created_at and finished_at parse", isinstance(submission.created_at, datetime.datetime)
          and isinstance(submission.finished_at, datetime.datetime))
    check("time is a float of seconds", isinstance(submission.time, float) and submission.time >= 0)
    check("memory is KB", isinstance(submission.memory, int) and submission.memory > 0)
    check("the token is a UUID", len(str(submission.token)) == 36)
    print("the SDK reads every answer")


if __name__ == "__main__":
    main()
