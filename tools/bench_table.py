#!/usr/bin/python3
"""bench_table.py: the figures of docs/PERFORMANCE.md, from sbbench's JSON.

    bench_table.py table RESULTS.jsonl MACHINE.txt DOC
    bench_table.py callgrind OUTDIR N DOC [SCENARIO_N]

`table` takes the runs of `make bench` (one sbbench JSON object a line,
several runs a scenario), reduces each scenario to medians and rewrites
the part of DOC between <!-- bench:begin --> and <!-- bench:end -->.
`callgrind` takes what tools/bench-callgrind.sh left in OUTDIR and rewrites
the part between <!-- callgrind:begin --> and <!-- callgrind:end -->.
The rest of DOC is left as it is; DOC "-" prints the part instead.

Every ratio is taken within one run (the daemon against the raw baseline
measured in the same process, minutes apart at most), and only then is the
median of the runs' ratios taken: that is what keeps a noisy machine's
drift out of the ratios.
"""

import json
import os
import re
import statistics
import sys

THROUGHPUT_TARGET = {"normal": 0.5, "off": 0.7}
ARRIVAL_TARGET = 3.0
ROUTES_LOSS_TARGET = 1.5
TOP_ENTRIES = 20


def die(msg):
    sys.stderr.write("bench_table: %s\n" % msg)
    sys.exit(2)


def dig(obj, *path):
    """obj[path[0]][path[1]]..., or None where a key is missing."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_rate(v):
    return "–" if v is None else "{:,.0f}".format(v)


def fmt_us(v):
    """A latency in µs, as µs below 10 ms and as ms above."""
    if v is None:
        return "–"
    if v >= 1000:
        return "%.1f ms" % (v / 1000)
    if v >= 100:
        return "%.0f µs" % v
    return "%.1f µs" % v


def fmt_ratio(v, digits=2):
    return "–" if v is None else "%.*f" % (digits, v)


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


def replace_block(doc, name, text):
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    if doc == "-":
        sys.stdout.write(text)
        return
    with open(doc) as f:
        page = f.read()
    i, j = page.find(begin), page.find(end)
    if i < 0 or j < i:
        die("%s: no %s ... %s markers to write between" % (doc, begin, end))
    page = page[:i + len(begin)] + "\n" + text + page[j:]
    with open(doc, "w") as f:
        f.write(page)
    sys.stderr.write("bench_table: %s: %s figures rewritten\n" % (doc, name))


def load_runs(path):
    runs = {}
    order = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                run = json.loads(line)
            except ValueError as e:
                die("%s:%d: not a JSON line from sbbench: %s" % (path, n, e))
            label = run.get("label") or "(unlabelled)"
            if label not in runs:
                runs[label] = []
                order.append(label)
            runs[label].append(run)
    if not runs:
        die("%s: no runs" % path)
    return order, runs


def load_machine(path):
    machine = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            machine[key] = value
    return machine


class Scenario:
    """The medians of one scenario's runs."""

    def __init__(self, label, runs):
        self.label = label
        self.runs = runs
        first = runs[0]
        self.transport = first.get("transport")
        self.sync = first.get("spool_sync")
        self.routes = first.get("routes")
        self.channels = first.get("channels")
        mix = first.get("mix", {})
        self.mix = "/".join(str(mix.get(c, 0)) for c in
                            ("realtime", "batch", "interactive"))
        self.mix_text = ("realtime only" if mix.get("realtime") == 100 and
                         sum(mix.values()) == 100 else
                         "rt %s / batch %s / inter %s" % tuple(
                             self.mix.split("/")))
        rates = [dig(r, "full", "acked_per_s") for r in runs]
        self.rate = median(rates)
        self.rate_min = min(v for v in rates if v is not None) \
            if any(v is not None for v in rates) else None
        self.rate_max = max(v for v in rates if v is not None) \
            if any(v is not None for v in rates) else None
        self.echo = median(dig(r, "raw", "echo_per_s") for r in runs)
        self.ratio = median(dig(r, "ratios", "throughput") for r in runs)
        self.paced = median(dig(r, "paced", "acked_per_s") for r in runs)
        self.ack = {p: median(dig(r, "paced", "ack_us", p) for r in runs)
                    for p in ("p50", "p99", "p999")}
        self.arr = {p: median(dig(r, "paced", "arrival_realtime_us", p)
                              for r in runs)
                    for p in ("p50", "p99", "p999")}
        self.rtt = {p: median(dig(r, "raw", "reqrep_us", p) for r in runs)
                    for p in ("p50", "p99", "p999")}
        self.arr_ratio = median(dig(r, "ratios", "arrival_p99")
                                for r in runs)
        self.ack_ratio = median(dig(r, "ratios", "ack_p99") for r in runs)
        self.trouble = sum((dig(r, ph, k) or 0) for r in runs
                           for ph in ("full", "paced")
                           for k in ("failed", "lost", "mismatched"))
        self.cpu = median((r["daemon_cpu_s"] * 1e6 / r["published"])
                          if r.get("published") else None for r in runs)
        self.warnings = sum(r.get("daemon_warnings", 0) for r in runs)
        self.first_warning = next((r["daemon_first_warning"] for r in runs
                                   if r.get("daemon_first_warning")), "")
        self.bad_exit = sum(1 for r in runs if r.get("daemon_exit") != 0)

    def throughput_ok(self):
        target = THROUGHPUT_TARGET.get(self.sync)
        if target is None or self.ratio is None:
            return None
        return self.ratio >= target

    def arrival_ok(self):
        if self.arr_ratio is None:
            return None
        return self.arr_ratio <= ARRIVAL_TARGET


def throughput_table(scen):
    out = ["| scenario | transport | spool.sync | mix (rt/batch/inter) "
           "| routes | channels | acked/s (min–max) | raw echo/s "
           "| ratio | target | daemon CPU a notice |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in scen:
        target = THROUGHPUT_TARGET.get(s.sync)
        out.append("| %s | %s | %s | %s | %s | %s | %s (%s–%s) | %s | %s "
                   "| ≥ %s: %s | %s |" % (
                       s.label, s.transport, s.sync, s.mix,
                       fmt_rate(s.routes), fmt_rate(s.channels),
                       fmt_rate(s.rate), fmt_rate(s.rate_min),
                       fmt_rate(s.rate_max), fmt_rate(s.echo),
                       fmt_ratio(s.ratio), target, verdict(s.throughput_ok()),
                       fmt_us(s.cpu)))
    return out


def latency_table(scen):
    out = ["| scenario | paced at /s | ack p50 / p99 "
           "| realtime arrival p50 / p99 / p99.9 | raw REQ/REP p50 / p99 "
           "| ack p99 ÷ raw p99 | arrival p99 ÷ raw p99 | target ≤ 3 |",
           "|---|---|---|---|---|---|---|---|"]
    for s in scen:
        out.append("| %s | %s | %s / %s | %s / %s / %s | %s / %s | %s "
                   "| %s | %s |" % (
                       s.label, fmt_rate(s.paced), fmt_us(s.ack["p50"]),
                       fmt_us(s.ack["p99"]), fmt_us(s.arr["p50"]),
                       fmt_us(s.arr["p99"]), fmt_us(s.arr["p999"]),
                       fmt_us(s.rtt["p50"]), fmt_us(s.rtt["p99"]),
                       fmt_ratio(s.ack_ratio, 1), fmt_ratio(s.arr_ratio, 1),
                       verdict(s.arrival_ok())))
    return out


def routes_lines(by_label):
    """The routing target: loss against raw of 10,000 routes vs 10."""
    base, big = by_label.get("base"), by_label.get("routes-10000")
    if base is None or big is None or None in (base.ratio, big.ratio,
                                               base.rate, big.rate):
        return []
    out = ["", "Routing cost (throughput loss = 1 − ratio to the raw echo):",
           ""]
    rows = [by_label[k] for k in ("base", "routes-1000", "routes-10000")
            if k in by_label and by_label[k].rate]
    for s in rows:
        extra = ""
        if s is not base and s.rate and base.rate and s.routes > base.routes:
            per = (1 / s.rate - 1 / base.rate) / (s.routes - base.routes)
            extra = "; %.0f ns a route more per notice" % (per * 1e9)
        out.append("- %s routes: %s acked/s, loss %.3f%s" % (
            fmt_rate(s.routes), fmt_rate(s.rate), 1 - s.ratio, extra))
    loss = (1 - big.ratio) / (1 - base.ratio) if base.ratio < 1 else None
    out.append("- loss(10,000) ÷ loss(10) = %s (target ≤ %.1f: %s); "
               "throughput(10,000) ÷ throughput(10) = %.2f" % (
                   fmt_ratio(loss), ROUTES_LOSS_TARGET,
                   verdict(loss is not None and loss <= ROUTES_LOSS_TARGET),
                   big.rate / base.rate))
    return out


def cmd_table(results, machine_path, doc):
    order, runs = load_runs(results)
    machine = load_machine(machine_path)
    scen = [Scenario(label, runs[label]) for label in order]
    by_label = {s.label: s for s in scen}
    out = ["",
           "Measured %s on %s × %s (nproc %s), %s; load average %s at the "
           "start, %s at the end; tree %s. %s runs a scenario, interleaved; "
           "medians (throughput min–max in brackets, to show the noise)." % (
               machine.get("date", "?"), machine.get("nproc", "?"),
               machine.get("cpu", "?"), machine.get("nproc", "?"),
               machine.get("kernel", "?"), machine.get("load_start", "?"),
               machine.get("load_end", "?"), machine.get("tree", "?"),
               machine.get("runs", "?")),
           "",
           "Every run: `sbbench %s %s` plus the scenario's own options."
           % (machine.get("common", ""), machine.get("base", "")),
           "",
           "Throughput at full speed:",
           ""]
    out += throughput_table(scen)
    out += ["", "Latency at half the full-speed rate of the same run "
            "(µs; the raw figures are the same run's REQ/REP round trip):",
            ""]
    out += latency_table(scen)
    out += routes_lines(by_label)
    notes = []
    for s in scen:
        if s.trouble:
            notes.append("%s: %d notices failed, lost or misclassified "
                         "over its runs" % (s.label, s.trouble))
        if s.bad_exit:
            notes.append("%s: the daemon did not exit 0 in %d runs" % (
                s.label, s.bad_exit))
        if s.warnings:
            notes.append("%s: %d daemon warnings over its runs, the first: "
                         "`%s`" % (s.label, s.warnings,
                                   s.first_warning[:120].replace("`", "'")))
    if notes:
        out += ["", "Trouble during the runs:", ""]
        out += ["- " + n for n in notes]
    out.append("")
    replace_block(doc, "bench", "\n".join(out) + "\n")


def callgrind_total(path):
    """The Ir total of a callgrind output file."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    die("%s: no totals line (did callgrind finish?)" % path)


def callgrind_published(path):
    with open(path) as f:
        run = json.load(f)
    return (run.get("warmup_sent") or 0) + (dig(run, "full", "sent") or 0) \
        + (dig(run, "rate", "sent") or 0)


def callgrind_top(path, n, skip_above=101.0):
    """The first n function lines of a callgrind_annotate report, leaving
    out those above skip_above percent (main, the event loop: every
    inclusive report starts with them)."""
    rows = []
    seen = set()
    with open(path) as f:
        lines = f.read().split("\n")
    started = False
    for line in lines:
        if re.match(r"^Ir\s+file:function", line.strip()):
            started = True
            continue
        if not started or line.startswith("-") or not line.strip():
            if rows:
                break
            continue
        m = re.match(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*)$", line)
        if m and float(m.group(2)) < skip_above:
            where = re.sub(r"^\S*/(?=[^/]+:)", "", m.group(3))
            where = re.sub(r"\[(?:\S*/)?([^/\]]+)\]$", r"[\1]", where)
            # Inclusive reports list a function once bare, once with its
            # object: keep the first.
            name = re.sub(r"\s*\[[^]]*\]$", "", where)
            if name not in seen:
                seen.add(name)
                rows.append("%6s%%  %s" % (m.group(2), where))
        if len(rows) == n:
            break
    return rows


SCENARIO_LABELS = ("base", "spool-off", "realtime", "ipc", "routes-1000",
                   "routes-10000", "channels-10", "channels-100")


def per_notice_row(label, base, n):
    """A table row from the runs BASE + N and BASE + 0: instructions a
    notice, start and stop subtracted."""
    ir_n, ir_0 = callgrind_total(base + n + ".out"), \
        callgrind_total(base + "0.out")
    pub_n, pub_0 = callgrind_published(base + n + ".json"), \
        callgrind_published(base + "0.json")
    per = (ir_n - ir_0) / (pub_n - pub_0) if pub_n > pub_0 else None
    return "| %s | %s / %s | %s | %s | **%s** |" % (
        label, fmt_rate(pub_n), fmt_rate(pub_0), fmt_rate(ir_n),
        fmt_rate(ir_0), fmt_rate(per))


def scenario_rows(outdir, n):
    """Instructions a notice in each standard scenario, from the runs of
    bench-callgrind.sh (none when it skipped them)."""
    rows = []
    for label in SCENARIO_LABELS:
        base = os.path.join(outdir, "scenario-%s-" % label)
        if os.path.exists(base + n + ".out"):
            rows.append(per_notice_row(label, base, n))
    if not rows:
        return []
    return ["", "Each standard scenario of `make bench` (its options as in "
            "the table above; spool.sync=normal unless it says off), %s "
            "notices at full speed:" % n, "",
            "| scenario | notices published (run / start-stop run) "
            "| Ir, run | Ir, start-stop run | Ir per notice |",
            "|---|---|---|---|---|"] + rows


def cmd_callgrind(outdir, n, doc, scenario_n="0"):
    out = ["", "| spool.sync | notices published (run / start-stop run) "
           "| Ir, run | Ir, start-stop run | Ir per notice |",
           "|---|---|---|---|---|"]
    for sync in ("off", "normal"):
        out.append(per_notice_row(sync, os.path.join(
            outdir, "callgrind-%s-" % sync), n))
    paced = os.path.join(outdir, "callgrind-normal-paced")
    if os.path.exists(paced + ".out"):
        with open(paced + ".json") as f:
            rate = dig(json.load(f), "rate", "target_rate")
        ir_p = callgrind_total(paced + ".out")
        pub_p = callgrind_published(paced + ".json")
        ir_0 = callgrind_total(os.path.join(outdir, "callgrind-normal-0.out"))
        pub_0 = callgrind_published(os.path.join(outdir,
                                                 "callgrind-normal-0.json"))
        out.append("| normal, paced at %s/s | %s / %s | %s | %s | **%s** |" % (
            fmt_rate(rate), fmt_rate(pub_p), fmt_rate(pub_0),
            fmt_rate(ir_p), fmt_rate(ir_0),
            fmt_rate((ir_p - ir_0) / (pub_p - pub_0))
            if pub_p > pub_0 else "–"))
    out += scenario_rows(outdir, scenario_n)
    for sync in ("normal", "off"):
        for kind, suffix in (("self", ""), ("inclusive", "-inclusive")):
            path = os.path.join(outdir, "callgrind-%s%s.txt" % (sync, suffix))
            if not os.path.exists(path):
                continue
            out += ["", "Top %d by %s cost, spool.sync=%s (%% of the %s-"
                    "notice run's Ir):" % (TOP_ENTRIES, kind, sync, n), "",
                    "```"]
            out += callgrind_top(path, TOP_ENTRIES,
                                 90.0 if kind == "inclusive" else 101.0)
            out.append("```")
    out.append("")
    replace_block(doc, "callgrind", "\n".join(out) + "\n")


def main(argv):
    if len(argv) == 5 and argv[1] == "table":
        cmd_table(argv[2], argv[3], argv[4])
    elif len(argv) in (5, 6) and argv[1] == "callgrind":
        cmd_callgrind(*argv[2:])
    else:
        die("usage: bench_table.py table RESULTS MACHINE DOC | "
            "callgrind OUTDIR N DOC [SCENARIO_N]")


if __name__ == "__main__":
    main(sys.argv)
