#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""
Checks over `moatctl explain --json` output for run_explain_tests.sh.
Every check prints one line starting with "ok " or "FAIL " (the runner counts
those); informational lines start with "# ". Standard library only.

    check_explain.py runs MANIFEST                   name<TAB>pcap<TAB>config per run
    check_explain.py frames MANIFEST NAME JSONL      per-frame verdict/reason/fields
    check_explain.py field JSONL FRAME KEY           print one field (no check line)
    check_explain.py flood-cookies JSONL             real flood, syn_cookies: always
    check_explain.py flood-limits JSONL CAPACITY     real flood, cookies off + prefix limits
    check_explain.py no-synack-pass JSONL LABEL      amp capture: no SYN+ACK passes
    check_explain.py ack-flood JSONL MAX_PASS MAX_FLOWS  random-source ACK flood: budget, table
"""
import json
import sys

FLOOD_FRAMES = 37841


def ok(msg):
    print("ok   " + msg)


def fail(msg):
    print("FAIL " + msg)


def check(cond, msg, why=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (" -- " + why if why else ""))
    return cond


def load_lines(path):
    """The JSON objects of an output file; a line that does not parse is an error."""
    objs, bad = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                objs.append(json.loads(line))
            except ValueError:
                bad.append(n)
    return objs, bad


def load_manifest(path):
    with open(path) as f:
        return json.load(f)["runs"]


def cmd_runs(manifest):
    for r in load_manifest(manifest):
        print("%s\t%s\t%s" % (r["name"], r["pcap"], r["config"]))


def field_ok(obj, key, want):
    if key not in obj:
        return False, "no field %r" % key
    got = obj[key]
    if want == "int":
        good = isinstance(got, int) and not isinstance(got, bool)
    else:
        good = got == want and type(got) is type(want)
    return good, "%s=%s, expected %s" % (key, json.dumps(got), json.dumps(want))


def cmd_frames(manifest, name, jsonl):
    run = [r for r in load_manifest(manifest) if r["name"] == name][0]
    objs, bad = load_lines(jsonl)
    check(not bad, "%s: every output line is JSON" % name, "unparsable lines %s" % bad[:5])
    frames = [o.get("frame") for o in objs]
    check(frames == list(range(1, run["frames"] + 1)),
          "%s: one line per frame, frames 1..%d in order" % (name, run["frames"]),
          "got %d lines, frames %s" % (len(objs), frames[:10]))
    by_frame = {o.get("frame"): o for o in objs}
    for e in run["expect"]:
        want = [[e["verdict"], e["reason"]]] + e.get("alt", [])
        label = "%s frame %d: %s (%s)" % (name, e["frame"], " or ".join(" ".join(w) for w in want),
                                          e["note"])
        o = by_frame.get(e["frame"])
        if o is None:
            fail(label + " -- no output line")
            continue
        why = []
        if [o.get("verdict"), o.get("reason")] not in want:
            why.append("got %s %s" % (o.get("verdict"), o.get("reason")))
        for k, v in sorted(e.get("fields", {}).items()):
            good, msg = field_ok(o, k, v)
            if not good:
                why.append(msg)
        check(not why, label, "; ".join(why) + "; line: " + json.dumps(o, sort_keys=True))


def cmd_field(jsonl, frame, key):
    objs, _ = load_lines(jsonl)
    for o in objs:
        if o.get("frame") == int(frame) and key in o:
            print(o[key])
            return 0
    return 1


def cmd_flood_cookies(jsonl):
    objs, bad = load_lines(jsonl)
    tag = "flood (syn_cookies: always)"
    check(not bad, "%s: every line is JSON" % tag, "unparsable lines %s" % bad[:5])
    check(len(objs) == FLOOD_FRAMES, "%s: %d lines" % (tag, FLOOD_FRAMES), "got %d" % len(objs))
    notcookie = [o["frame"] for o in objs if (o.get("verdict"), o.get("reason")) != ("tx", "syn_cookie")]
    check(not notcookie, "%s: every frame is tx syn_cookie" % tag,
          "%d frames are not, first %s" % (len(notcookie), notcookie[:5]))
    nocookie = [o["frame"] for o in objs if not isinstance(o.get("cookie"), int)]
    check(not nocookie, "%s: every line carries an integer cookie" % tag,
          "missing in frames %s" % nocookie[:5])
    flows = [o["frame"] for o in objs if o.get("flows") != 0]
    check(not flows, "%s: \"flows\" is 0 on every line (no flow state)" % tag,
          "non-zero in %d lines, first %s" % (len(flows), flows[:5]))
    srcs = len({(o.get("src"), o.get("sport")) for o in objs})
    cookies = len({o.get("cookie") for o in objs})
    # Cookies are per connection: distinct SYNs must not collapse to a few values.
    check(cookies > 0.99 * srcs, "%s: cookies are distinct per connection" % tag,
          "%d distinct cookies for %d distinct source endpoints" % (cookies, srcs))


def cmd_flood_limits(jsonl, capacity):
    capacity = int(capacity)
    objs, bad = load_lines(jsonl)
    tag = "flood (cookies off, prefix_v4 8, 2 SYN/s per prefix, flows %d)" % capacity
    check(not bad, "%s: every line is JSON" % tag, "unparsable lines %s" % bad[:5])
    check(len(objs) == FLOOD_FRAMES, "%s: %d lines" % (tag, FLOOD_FRAMES), "got %d" % len(objs))
    counts = {}
    for o in objs:
        k = "%s %s" % (o.get("verdict"), o.get("reason"))
        counts[k] = counts.get(k, 0) + 1
    rate = counts.get("drop source_rate", 0)
    frac = rate / max(len(objs), 1)
    print("# %s: %s" % (tag, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    check(frac > 0.80, "%s: source_rate drops %d of %d (%.1f%%) > 80%%" % (tag, rate, len(objs), 100 * frac))
    other = {k: v for k, v in counts.items() if k not in ("drop source_rate", "pass handshake")}
    check(not other, "%s: every SYN is a handshake or dropped by the limit" % tag,
          "other outcomes %s" % other)
    peak = max((o.get("flows", -1) for o in objs), default=-1)
    check(0 < peak <= capacity, "%s: \"flows\" peaks at %d <= %d" % (tag, peak, capacity),
          "peak %d" % peak)
    sources = max((o.get("sources", -1) for o in objs), default=-1)
    check(0 < sources <= 256, "%s: limiter records (%d) bounded by the 256 /8 prefixes" % (tag, sources),
          "peak %d" % sources)


def cmd_no_synack_pass(jsonl, label):
    objs, bad = load_lines(jsonl)
    tag = "amp capture (%s)" % label
    check(not bad, "%s: every line is JSON" % tag, "unparsable lines %s" % bad[:5])
    check(len(objs) == 896, "%s: 896 lines" % tag, "got %d" % len(objs))
    sa = [o for o in objs if "S" in o.get("flags", "") and "A" in o.get("flags", "")]
    passed = [o["frame"] for o in sa if o.get("verdict") == "pass"]
    check(sa and not passed, "%s: none of %d SYN+ACK frames passes" % (tag, len(sa)),
          "passed: %s" % passed[:10])
    other = [o["frame"] for o in sa if (o.get("verdict"), o.get("reason")) != ("drop", "ack_no_flow")]
    check(not other, "%s: every SYN+ACK is drop ack_no_flow" % tag, "others: %s" % other[:10])
    print("# %s: %d SYN+ACK frames, %d SYN-only" %
          (tag, len(sa), sum(1 for o in objs if o.get("flags", "").replace("E", "").replace("C", "") == "S")))


def cmd_ack_flood(jsonl, max_pass, max_flows):
    """The generated ACK flood (sources in 11.0.0.0/8) with pickup on its defaults: at most
    max_pass flood ACKs pass (pickup), the rest are ack_no_flow, and the flow table never
    holds more than max_flows."""
    max_pass, max_flows = int(max_pass), int(max_flows)
    objs, bad = load_lines(jsonl)
    tag = "ack flood (pickup: auto)"
    check(not bad, "%s: every line is JSON" % tag, "unparsable lines %s" % bad[:5])
    flood = [o for o in objs if str(o.get("src", "")).startswith("11.")]
    passed = [o for o in flood if o.get("verdict") == "pass"]
    other = [o["frame"] for o in flood
             if (o.get("verdict"), o.get("reason")) not in (("pass", "pickup"), ("drop", "ack_no_flow"))]
    peak = max((o.get("flows", -1) for o in objs), default=-1)
    last = max((o.get("time", 0) for o in passed), default=0) - min(o.get("time", 0) for o in flood)
    print("# %s: %d flood ACKs, %d passed (the last %.2f s in), peak %d flows" %
          (tag, len(flood), len(passed), last, peak))
    check(len(flood) >= 10000, "%s: %d flood frames" % (tag, len(flood)))
    check(len(passed) <= max_pass, "%s: %d flood ACKs passed <= budget %d" % (tag, len(passed), max_pass))
    check(not other, "%s: flood ACKs are pass pickup or drop ack_no_flow" % tag, "others: %s" % other[:10])
    check(0 < peak <= max_flows, "%s: \"flows\" peaks at %d <= %d" % (tag, peak, max_flows))


def main(argv):
    cmds = {
        "runs": (cmd_runs, 1), "frames": (cmd_frames, 3), "field": (cmd_field, 3),
        "flood-cookies": (cmd_flood_cookies, 1), "flood-limits": (cmd_flood_limits, 2),
        "no-synack-pass": (cmd_no_synack_pass, 2), "ack-flood": (cmd_ack_flood, 3),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]][0](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
