"""A checker for the Prometheus text exposition format (0.0.4), standard library only.

Used by the e2e tests when promtool is not installed. It checks what promtool's
`check metrics` lints and what a scraper would reject: every sample belongs to a
family announced by HELP and TYPE (in that order, once each), names and labels
are well formed, values parse, counters end in _total, histograms have
cumulative buckets ending in +Inf equal to _count and a _sum, no series repeats.
"""
import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)( \d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_labels(s):
    out, pos = [], 0
    while pos < len(s):
        m = LABEL.match(s, pos)
        if not m:
            return None
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def parse_value(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    return float(v)


def check(text, prefix=""):
    problems = []
    if not text.endswith("\n"):
        problems.append("output does not end with a newline")
    families = {}   # name -> type
    helped = set()
    seen = set()
    hist = {}       # (family, labels without le) -> {"buckets": [(le, v)], "count": v, "sum": v}
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not parts[3].strip():
                problems.append("%d: HELP without text" % n)
            name = parts[2]
            if name in helped:
                problems.append("%d: second HELP for %s" % (n, name))
            helped.add(name)
            current = name
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                problems.append("%d: bad TYPE line" % n)
                continue
            name, typ = parts[2], parts[3]
            if name in families:
                problems.append("%d: second TYPE for %s" % (n, name))
            if name not in helped:
                problems.append("%d: TYPE before HELP for %s" % (n, name))
            families[name] = typ
            current = name
            if typ == "counter" and not name.endswith("_total"):
                problems.append("%d: counter %s should end in _total" % (n, name))
            if typ != "counter" and name.endswith("_total"):
                problems.append("%d: non-counter %s ends in _total" % (n, name))
            if prefix and not name.startswith(prefix):
                problems.append("%d: %s lacks the %s prefix" % (n, name, prefix))
            continue
        if line.startswith("#") or not line.strip():
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("%d: unparsable sample: %r" % (n, line))
            continue
        name, labels = m.group(1), parse_labels(m.group(3) or "")
        if labels is None:
            problems.append("%d: bad labels: %r" % (n, line))
            continue
        try:
            value = parse_value(m.group(4))
        except ValueError:
            problems.append("%d: bad value: %r" % (n, line))
            continue
        fam = name
        typ = families.get(name)
        if typ is None:
            for suf in ("_bucket", "_sum", "_count"):
                if name.endswith(suf) and families.get(name[:-len(suf)]) == "histogram":
                    fam, typ = name[:-len(suf)], "histogram"
        if typ is None:
            problems.append("%d: sample %s has no TYPE" % (n, name))
            continue
        if fam != current:
            problems.append("%d: sample %s is not under its family's header" % (n, name))
        key = (name, tuple(sorted(labels)))
        if key in seen:
            problems.append("%d: duplicate series %s%s" % (n, name, labels))
        seen.add(key)
        if len({k for k, _ in labels}) != len(labels):
            problems.append("%d: repeated label name" % n)
        if typ == "counter" and (value < 0 or math.isnan(value)):
            problems.append("%d: counter %s is %s" % (n, name, value))
        if typ == "histogram":
            base = tuple(sorted((k, v) for k, v in labels if k != "le"))
            h = hist.setdefault((fam, base), {"buckets": [], "count": None, "sum": None})
            if name.endswith("_bucket"):
                le = dict(labels).get("le")
                if le is None:
                    problems.append("%d: bucket without le" % n)
                    continue
                h["buckets"].append((parse_value(le), value))
            elif name.endswith("_count"):
                h["count"] = value
            elif name.endswith("_sum"):
                h["sum"] = value
            else:
                problems.append("%d: histogram sample %s" % (n, name))
    for (fam, base), h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != float("inf"):
            problems.append("%s%s: no +Inf bucket" % (fam, base))
            continue
        les = [le for le, _ in b]
        if les != sorted(les):
            problems.append("%s%s: buckets not in increasing le order" % (fam, base))
        vals = [v for _, v in b]
        if any(x > y for x, y in zip(vals, vals[1:])):
            problems.append("%s%s: buckets not cumulative" % (fam, base))
        if h["count"] is None or h["sum"] is None:
            problems.append("%s%s: missing _count or _sum" % (fam, base))
        elif h["count"] != vals[-1]:
            problems.append("%s%s: _count %s != +Inf bucket %s" % (fam, base, h["count"], vals[-1]))
    return problems
