#!/usr/bin/env python3
"""Checks the `histograms` of a sockloop JSON report with an independent reader.

    scripts/check_report_histograms.py REPORT.json

`load --json` and `report --json` carry each latency histogram in
HdrHistogram's standard base64 form (V2, DEFLATE). This decodes them with
HdrHistogram's Python port (`pip install hdrhistogram`, module `hdrh`), not
the Rust crate that wrote them, and checks that each gives its summary in
the same report: the sample count, p50..p99.9 (null below 1 / (1 - q)
samples) and max, in microseconds rounded to nearest (the rule of
scripts/check_hdr_log.py, whose `value_at` it uses).

Exit status: 0 all good, 1 a check failed, 2 usage, 3 `hdrh` not installed.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_hdr_log import value_at  # noqa: E402

PAIRS = (("request_ns", "latency_us"), ("connect_ns", "connect_latency_us"))


def fail(msg):
    print(f"check_report_histograms: FAILED: {msg}")
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError:
        print("check_report_histograms: hdrh not installed (pip install hdrhistogram)")
        sys.exit(3)
    with open(sys.argv[1]) as f:
        report = json.load(f)
    us = lambda ns: (ns + 500) // 1000
    said = []
    for key, summary_key in PAIRS:
        h = HdrHistogram.decode(report["histograms"][key])
        summary = report[summary_key]
        count = h.get_total_count()
        if count != summary["samples"]:
            fail(f"{key}: {count} values, {summary_key} says {summary['samples']} samples")
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
            want = summary[name]
            if count < round(1 / (1 - q)):
                if want is not None:
                    fail(f"{key} {name}: {count} samples give null, the report says {want}")
                continue
            got = us(value_at(h, q))
            if got != want:
                fail(f"{key} {name}: decoded {got} us, the report says {want} us")
        if count and us(h.get_max_value()) != summary["max"]:
            fail(f"{key} max: decoded {us(h.get_max_value())} us, the report says {summary['max']}")
        said.append(f"{key} {count} values")
    print(f"check_report_histograms: OK: {', '.join(said)}, matching the report")


if __name__ == "__main__":
    main()
