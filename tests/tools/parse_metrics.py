"""Parses a /metrics answer (stdin) with the Prometheus project's own parser
and prints its samples as JSON lines: name, labels, value.

usage: parse_metrics.py prometheus|openmetrics < scrape.txt
A text the parser rejects exits non-zero with its error.
"""
import json
import sys

from prometheus_client.openmetrics import parser as openmetrics
from prometheus_client import parser as prometheus

text = sys.stdin.read()
if sys.argv[1] == "openmetrics":
    families = openmetrics.text_string_to_metric_families(text)
else:
    families = prometheus.text_string_to_metric_families(text)
for family in families:
    for sample in family.samples:
        print(json.dumps({
            "family": family.name,
            "type": family.type,
            "name": sample.name,
            "labels": sample.labels,
            "value": sample.value,
        }))
