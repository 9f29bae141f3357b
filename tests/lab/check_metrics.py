#!/usr/bin/python3
"""A strict reader of the Prometheus text format (0.0.4) for moat's /metrics.
usage: check_metrics.py METRICS.txt STATS.json
Checks: every line is a comment (# HELP/# TYPE) or a sample `name{labels} value`;
each family has HELP and TYPE before its samples; counters end in _total;
label values are quoted and escaped; no sample is repeated; values are numbers.
Then: moat_packets_total per reason >= the reason's count in moatctl stats taken
before the scrape, and one series per reason. Exit 1 on any failure."""
import json
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(rf"^({NAME})(\{{{LABEL}(?:,{LABEL})*\}})? (-?[0-9.eE+]+|NaN|[+-]Inf)$")


def main(text_path, stats_path):
    help_, type_, seen, series = {}, {}, set(), {}
    errors = []
    for n, line in enumerate(open(text_path).read().splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split()[2]
            help_[name] = n
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            if kind not in ("counter", "gauge", "histogram", "summary", "untyped"):
                errors.append(f"line {n}: bad type {kind}")
            if kind == "counter" and not name.endswith("_total"):
                errors.append(f"line {n}: counter {name} does not end in _total")
            type_[name] = kind
        elif line.startswith("#") or not line:
            errors.append(f"line {n}: stray line {line!r}")
        else:
            m = SAMPLE.match(line)
            if not m:
                errors.append(f"line {n}: not a sample: {line!r}")
                continue
            name = m.group(1)
            if name not in help_ or name not in type_:
                errors.append(f"line {n}: {name} has no HELP/TYPE before it")
            key = (name, m.group(2) or "")
            if key in seen:
                errors.append(f"line {n}: repeated series {key}")
            seen.add(key)
            series[key] = float(m.group(3))
    stats = json.load(open(stats_path))
    for reason, count in stats["reasons"].items():
        hits = [v for (name, labels), v in series.items()
                if name == "moat_packets_total" and f'reason="{reason}"' in labels]
        if len(hits) != 1:
            errors.append(f"reason {reason}: {len(hits)} series")
        elif hits[0] < count:
            errors.append(f"reason {reason}: metrics {hits[0]} < stats {count}")
    for e in errors:
        print("  " + e)
    print(f"{len(seen)} series, {len(type_)} families, {len(errors)} problems")
    return not errors


if __name__ == "__main__":
    sys.exit(0 if main(*sys.argv[1:3]) else 1)
