#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check deploy/grafana/moat.json against what moatd really exports.

The metric names, their labels and the literal label values are read from
fill_metrics*() in daemon/*.c: moatd.c's shared families and each backend's
(backend_xdp.c, backend_dpdk.c, and moat-dp's in control/metrics_dp.c); reason and
verdict values from core/reason.h.
Every PromQL expression of the dashboard (panel targets and template queries)
may then only name those metrics, match those labels (plus Prometheus' own
instance/job) and, for = and simple |-alternations under =~, those values.
Also: the file is strict JSON, schemaVersion >= 36, every datasource is the
${DS_PROMETHEUS} input, and every metric family moatd emits is on the dashboard.

usage: check_dashboard.py [DASHBOARD]   (exit 0 ok, 1 problems found)
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TARGET_LABELS = {"instance", "job"}  # added by Prometheus at scrape time
FUNCTIONS = {
    "abs", "absent", "avg_over_time", "ceil", "changes", "clamp_min", "clamp_max", "count_over_time",
    "delta", "deriv", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
    "label_values", "last_over_time", "max_over_time", "min_over_time", "rate", "resets", "round",
    "scalar", "sort", "sort_desc", "sum_over_time", "time", "timestamp", "vector",
}
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                "quantile", "count_values", "group"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless"}


def emitted_metrics():
    """{metric: {label: set(values) or None for any}} from fill_metrics*()."""
    daemon = os.path.join(ROOT, "daemon")
    src = "".join(open(os.path.join(daemon, f)).read()
                  for f in sorted(os.listdir(daemon)) if f.endswith(".c"))
    # moat-dp's families, written for moatd (mode dpdk) and moat-dp alike.
    src += open(os.path.join(ROOT, "control", "metrics_dp.c")).read()
    # fill_metrics() (moatd.c) and the backends' (fill_metrics_xdp(), fill_metrics_dpdk(), ...).
    bodies = re.findall(r"\nstatic void fill_metrics\w*\([^)]*\)\n\{\n(.*?)\n\}\n", src, re.S)
    if not bodies:
        sys.exit("check_dashboard: fill_metrics() not found in daemon/*.c")
    body = "\n".join(bodies)
    reason_h = open(os.path.join(ROOT, "core", "reason.h")).read()
    reasons = set(re.findall(r'X\(\w+, "(\w+)", MOAT_\w+\)', reason_h))
    verdicts = {"pass", "drop", "tx"}
    dynamic = {"reason": reasons, "verdict": verdicts}
    out = {}
    for name in re.findall(r'moat_text_family\(t, "(\w+)"', body):
        out.setdefault(name, {})
    for fmt in re.findall(r'moat_text_printf\(\s*t,\s*"((?:[^"\\]|\\.)*)"', body):
        s = re.match(r'(\w+)(\{.*?\})? ', fmt)
        if not s or s.group(1) not in out:
            sys.exit(f"check_dashboard: sample {fmt!r} of no declared family")
        labels = out[s.group(1)]
        for lab, val in re.findall(r'(\w+)=\\"(.*?)\\"', s.group(2) or ""):
            if val.startswith("%"):
                vals = dynamic.get(lab)  # None: any value (e.g. interface names)
                labels[lab] = None if vals is None else labels.get(lab, set()) | vals
            elif labels.get(lab, set()) is not None:
                labels[lab] = labels.get(lab, set()) | {val}
    return out


TOKEN = re.compile(r'''\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<var>\$\{?\w+\}?)
  | (?P<num>[0-9][0-9a-zA-Z.]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],])
  )''', re.X)


def tokenize(expr):
    pos, toks = 0, []
    expr = expr.rstrip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {expr[pos:]!r}")
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
        pos = m.end()
    return toks


def check_expr(expr, metrics, problems, where):
    try:
        toks = tokenize(expr)
    except ValueError as e:
        problems.append(f"{where}: {e}")
        return set()
    used, i = set(), 0
    grouping = []  # label names of by/without/on/ignoring, checked once the metrics are known

    def matchers(j, metric):
        # toks[j] is '{': label op "value" [, ...] '}'
        j += 1
        while toks[j][1] != "}":
            lab, op, val = toks[j][1], toks[j + 1][1], toks[j + 2]
            if val[0] != "str":
                problems.append(f"{where}: matcher {lab}{op} without a string value")
            v = val[1][1:-1]
            known = metrics.get(metric, {})
            if lab not in known and lab not in TARGET_LABELS and lab != "__name__":
                problems.append(f"{where}: {metric} has no label '{lab}'")
            elif lab in known and known[lab] is not None and "$" not in v:
                if op == "=":
                    vals = [v]
                elif op == "=~" and re.fullmatch(r"[\w|]+", v):
                    vals = v.split("|")
                else:
                    vals = []
                for x in vals:
                    if x not in known[lab]:
                        problems.append(f"{where}: {metric}{{{lab}}} never takes the value '{x}'")
            j += 3
            if toks[j][1] == ",":
                j += 1
        return j + 1

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if text == "[":  # range or subquery duration: skip
            while toks[i][1] != "]":
                i += 1
            i += 1
            continue
        if kind != "ident":
            i += 1
            continue
        if text in ("by", "without", "on", "ignoring", "group_left", "group_right") and nxt == "(":
            j = i + 2
            while toks[j][1] != ")":
                if toks[j][0] == "ident":
                    grouping.append(toks[j][1])
                j += 1
            i = j + 1
            continue
        if text == "label_values" and nxt == "(":
            args = [t for t in toks[i + 2:] if t[0] == "ident"]
            metric = args[0][1] if len(args) == 2 else None
            if metric:
                used.add(metric)
                if metric not in metrics:
                    problems.append(f"{where}: metric '{metric}' is not emitted by fill_metrics")
                grouping.append(args[1][1])
            i = len(toks)
            continue
        if text in AGGREGATIONS and nxt in ("by", "without"):  # sum by (x) (...)
            i += 1
            continue
        if nxt == "(":
            if text not in FUNCTIONS | AGGREGATIONS:
                problems.append(f"{where}: unknown function '{text}'")
            i += 1
            continue
        if text in KEYWORDS:
            i += 1
            continue
        # a metric name
        used.add(text)
        if text not in metrics:
            problems.append(f"{where}: metric '{text}' is not emitted by fill_metrics")
        i += 1
        if nxt == "{":
            i = matchers(i, text)
    labels = TARGET_LABELS | {lab for m in used for lab in metrics.get(m, {})}
    for lab in grouping:
        if lab not in labels:
            problems.append(f"{where}: grouping label '{lab}' is on none of {sorted(used)}")
    if not used:
        problems.append(f"{where}: no moat metric in {expr!r}")
    return used


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "moat.json")

    def no_constants(c):
        raise ValueError(f"non-standard JSON constant {c}")

    try:
        dash = json.load(open(path), parse_constant=no_constants)
    except (ValueError, OSError) as e:
        print(f"{path}: not valid JSON: {e}")
        return 1
    metrics = emitted_metrics()
    problems, used, n_expr = [], set(), 0
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.append("schemaVersion missing or older than 36")
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
               for i in dash.get("__inputs", [])):
        problems.append("no DS_PROMETHEUS datasource input")
    ids = [p.get("id") for p in walk_panels(dash.get("panels", []))]
    if len(ids) != len(set(ids)):
        problems.append("duplicate panel ids")
    for p in walk_panels(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        where = f"panel '{p.get('title')}'"
        for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
            if ds is not None and ds.get("uid") != "${DS_PROMETHEUS}":
                problems.append(f"{where}: datasource {ds} is not ${{DS_PROMETHEUS}}")
        if not p.get("targets"):
            problems.append(f"{where}: no query")
        for t in p.get("targets", []):
            n_expr += 1
            used |= check_expr(t.get("expr", ""), metrics, problems, f"{where} {t.get('refId')}")
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        for e in {q, v.get("definition")} - {None}:
            n_expr += 1
            used |= check_expr(e, metrics, problems, f"variable '{v.get('name')}'")
    for m in sorted(set(metrics) - used):
        problems.append(f"metric {m} (emitted by fill_metrics) is on no panel")
    for p in problems:
        print(f"{os.path.basename(path)}: {p}")
    print(f"{os.path.basename(path)}: {n_expr} expressions over {len(used & set(metrics))} of {len(metrics)} "
          f"metrics: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
