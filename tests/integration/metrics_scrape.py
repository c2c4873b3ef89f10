#!/usr/bin/python3
"""Scrapes a Prometheus endpoint and parses it with Prometheus' own Python client.

Usage: metrics_scrape.py URL [TIMEOUT_SECONDS]

Prints one JSON object: {"text": the exposition as served, "families": [{"name", "type",
"samples": [{"name", "labels", "value"}]}]}, with families as prometheus_client's text
parser (Debian's python3-prometheus-client) reads them. Exits 1 when the endpoint cannot
be read or the parser refuses the text, saying why on stderr.
"""
import json
import math
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    timeout = float(argv[2]) if len(argv) > 2 else 5.0
    try:
        with urllib.request.urlopen(argv[1], timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except OSError as error:
        print(f"cannot scrape {argv[1]}: {error}", file=sys.stderr)
        return 1
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "samples": [
                    {
                        "name": s.name,
                        "labels": s.labels,
                        # JSON has no NaN: a summary's quantiles before any scrape are NaN.
                        "value": None if math.isnan(s.value) else s.value,
                    }
                    for s in family.samples
                ],
            }
            for family in text_string_to_metric_families(text)
        ]
    except ValueError as error:
        print(f"the Prometheus parser refused the exposition: {error}", file=sys.stderr)
        return 1
    json.dump({"text": text, "families": families}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
