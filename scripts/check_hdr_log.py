#!/usr/bin/env python3
"""Checks a `sockloop load --hdr-log` file with an independent reader.

    scripts/check_hdr_log.py LOG [REPORT.json]

The reader is HdrHistogram's Python port (`pip install hdrhistogram`,
module `hdrh`), not the Rust crate that wrote the file. It checks that:

- the header is the one HdrHistogram's reference writer (Java
  HistogramLogWriter) writes: format version 1.3, StartTime with its date,
  BaseTime, the legend line;
- `hdrh.log.HistogramLogReader` reads every interval, and places it after
  StartTime (BaseTime honoured: relative timestamps, not 1970);
- each line's Interval_Max is the decoded interval's max in milliseconds
  (the reference's default maxValueUnitRatio, 1e6 for nanoseconds);
- with REPORT.json (`load --json` output): the intervals added up hold
  exactly the report's replies, and give its percentiles (same rule as the
  report: the value at ceil(q * count), in microseconds rounded to nearest;
  null where the count is below 1 / (1 - q)).

Exit status: 0 all good, 1 a check failed, 2 usage, 3 `hdrh` not installed.
"""

import json
import math
import re
import sys

LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
VERSION = "#[Histogram log format version 1.3]"
START = re.compile(r"^#\[StartTime: (\d+\.\d{3}) \(seconds since epoch\), "
                   r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \w+ \d{4}\]$")
BASE = re.compile(r"^#\[BaseTime: (\d+\.\d{3}) \(seconds since epoch\)\]$")
INTERVAL = re.compile(r"^(\d+\.\d{3}),(\d+\.\d{3}),(\d+\.\d{3}),(HISTFAAA\S+)$")
# As the report: latency histograms are in nanoseconds, 1 ns .. 1 hour.
LOWEST, HIGHEST, DIGITS = 1, 3_600_000_000_000, 3


def fail(msg):
    print(f"check_hdr_log: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check_header(lines):
    """The reference writer's header; returns StartTime in seconds."""
    header = [l for l in lines if l.startswith("#") or l.startswith('"')]
    if VERSION not in header:
        fail(f"no {VERSION!r} line")
    if LEGEND not in lines:
        fail("no legend line")
    starts = [m for m in map(START.match, lines) if m]
    bases = [m for m in map(BASE.match, lines) if m]
    if len(starts) != 1 or len(bases) != 1:
        fail("expected one StartTime line (with its date) and one BaseTime line")
    order = [lines.index(VERSION), lines.index(starts[0].group(0)),
             lines.index(bases[0].group(0)), lines.index(LEGEND)]
    if order != sorted(order) or any(INTERVAL.match(l) for l in lines[:order[-1]]):
        fail("header out of the reference order (version, StartTime, BaseTime, legend)")
    if starts[0].group(1) != bases[0].group(1):
        fail("StartTime and BaseTime differ")
    return float(starts[0].group(1))


def value_at(h, q):
    """The report's rule (hdrhistogram crate): the highest equivalent value
    of the first bucket where the running count reaches ceil(q * count)."""
    target = max(1, math.ceil(q * h.get_total_count()))
    for item in h.get_recorded_iterator():
        if item.total_count_to_this_value >= target:
            return h.get_highest_equivalent_value(item.value_iterated_to)
    return 0


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        from hdrh.histogram import HdrHistogram
        from hdrh.log import HistogramLogReader
    except ImportError:
        print("check_hdr_log: python module hdrh missing (pip install hdrhistogram)",
              file=sys.stderr)
        sys.exit(3)

    path = sys.argv[1]
    with open(path) as f:
        lines = f.read().splitlines()
    start_time = check_header(lines)
    rows = [m for m in map(INTERVAL.match, lines) if m]
    if not rows:
        fail("no interval lines")

    reader = HistogramLogReader(path, HdrHistogram(LOWEST, HIGHEST, DIGITS))
    total = HdrHistogram(LOWEST, HIGHEST, DIGITS)
    for n, row in enumerate(rows):
        h = reader.get_next_interval_histogram()
        if h is None:
            fail(f"hdrh read {n} intervals, the file has {len(rows)}")
        if reader.get_start_time_sec() != start_time:
            fail(f"hdrh read StartTime {reader.get_start_time_sec()}, header says {start_time}")
        # Absolute start = BaseTime + timestamp (ms in hdrh).
        expected_ms = (start_time + float(row.group(1))) * 1000.0
        if abs(h.get_start_time_stamp() - expected_ms) > 1.0:
            fail(f"interval {n}: hdrh places it at {h.get_start_time_stamp()} ms, "
                 f"expected {expected_ms} (BaseTime not honoured?)")
        max_ms = h.get_max_value() / 1e6
        if abs(max_ms - float(row.group(3))) > 0.0005 + 1e-9:
            fail(f"interval {n}: Interval_Max {row.group(3)} ms, decoded max {max_ms} ms")
        total.add(h)
    if reader.get_next_interval_histogram() is not None:
        fail("hdrh read more intervals than the file has lines")

    summary = (f"{len(rows)} intervals, {total.get_total_count()} latencies, "
               f"p99 {value_at(total, 0.99) / 1000:.0f} us")
    if len(sys.argv) == 3:
        with open(sys.argv[2]) as f:
            report = json.load(f)
        completed = report["requests"]["completed"]
        if total.get_total_count() != completed:
            fail(f"log holds {total.get_total_count()} latencies, report {completed} replies")
        us = lambda ns: (ns + 500) // 1000
        count = total.get_total_count()
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
            want = report["latency_us"][name]
            # The report's sample rule: percentile q only from 1 / (1 - q)
            # samples, else null ("n/a").
            if count < round(1 / (1 - q)):
                if want is not None:
                    fail(f"{name}: from {count} samples, the report should say null, not {want}")
                continue
            got = us(value_at(total, q))
            if got != want:
                fail(f"{name}: log gives {got} us, report says {want} us")
        if count and us(total.get_max_value()) != report["latency_us"]["max"]:
            fail(f"max: log gives {us(total.get_max_value())} us, "
                 f"report says {report['latency_us']['max']} us")
        summary += ", matching the report"
    print(f"check_hdr_log: OK: {summary}")


if __name__ == "__main__":
    main()
