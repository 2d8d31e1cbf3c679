#!/usr/bin/env python3
"""Medians of repeated benchmark runs, as the markdown tables of docs/benchmarks.md.

    scripts/bench-medians.py DIR            # DIR holds peers-runN.json, latency-runN.json,
                                            # drain-runN.json and criterion-runN.json
    scripts/bench-medians.py --criterion TARGET_CRITERION_DIR   # one criterion run as JSON

Every figure in the tables is the median over the runs of that figure (the median of the
three p50s, of the three p99.9s, ...); ratios are computed from those medians. Written for
scripts/bench.sh, which makes the runs.
"""

import glob
import json
import os
import statistics
import sys


def load(dir_, kind):
    runs = []
    for path in sorted(glob.glob(os.path.join(dir_, f"{kind}-run*.json"))):
        with open(path) as f:
            text = f.read().strip()
        if not text:
            continue
        # A harness prints one JSON object on its last line (cargo may print before it).
        runs.append(json.loads(text.splitlines()[-1]))
    return runs


def med(runs, *path):
    """Median of the value at `path` over the runs that have a number there."""
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
            if v is None:
                break
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals.append(v)
    return statistics.median(vals) if vals else None


def ns(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.1f} ms"
    if v >= 1e4:
        return f"{v / 1e3:.1f} µs"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def num(v, unit=""):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M{unit}"
    if v >= 1e3:
        return f"{v / 1e3:.0f} k{unit}"
    return f"{v:.0f}{unit}" if float(v).is_integer() else f"{v:.2f}{unit}"


def cnt(v):
    return "—" if v is None else f"{v:.0f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    return f"×{r:.2f}" if r < 10 else f"×{r:.0f}"


def peers(runs):
    floors = ("rtrb", "tsc_read")
    names = sorted(runs[0]["peers"].keys(), key=lambda n: (not n.startswith("ringtrace"), n in floors, n))
    rt = lambda k: med(runs, "peers", "ringtrace", k)
    rtrb = med(runs, "peers", "rtrb", "p50_ns")
    out = [
        f"Medians of {len(runs)} runs.\n",
        "| contender | p50 ns | p50 net | mean ≤p99 | p99 | p99.9 | p99.99 | max | p50 ÷ ringtrace | p99.9 ÷ ringtrace | p50 ÷ rtrb | e2e delivered/s | lost |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for n in names:
        m = lambda k: med(runs, "peers", n, k)
        out.append(
            f"| {n} | {ns(m('p50_ns'))} | {ns(m('p50_net_ns'))} | {ns(m('mean_p99_ns'))} | {ns(m('p99_ns'))} | "
            f"{ns(m('p999_ns'))} | {ns(m('p9999_ns'))} | {ns(m('max_ns'))} | {ratio(m('p50_ns'), rt('p50_ns'))} | "
            f"{ratio(m('p999_ns'), rt('p999_ns'))} | {ratio(m('p50_ns'), rtrb)} | {num(m('e2e_events_per_s'))} | "
            f"{cnt(m('lost'))} |"
        )
    return "\n".join(out)


def latency(runs):
    rows = sorted(runs[0]["rows"].keys(), key=lambda r: (r != "tsc_read", int(r.split("_")[-1]) if r[-1].isdigit() else 0))
    out = [
        f"Medians of {len(runs)} runs.\n",
        "| row | p50 ns | p50 net | mean ≤p99 | p90 | p99 | p99.9 | p99.99 | max | p50 ÷ 1 thread | mean≤p99 ÷ 1 thread | dropped |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    one = lambda k: med(runs, "rows", "threads_1", k)
    for r in rows:
        m = lambda k: med(runs, "rows", r, k)
        first = r == "tsc_read"
        out.append(
            f"| {r} | {ns(m('p50_ns'))} | {ns(m('p50_net_ns'))} | {ns(m('mean_p99_ns'))} | {ns(m('p90_ns'))} | "
            f"{ns(m('p99_ns'))} | {ns(m('p999_ns'))} | {ns(m('p9999_ns'))} | {ns(m('max_ns'))} | "
            f"{'—' if first else ratio(m('p50_ns'), one('p50_ns'))} | "
            f"{'—' if first else ratio(m('mean_p99_ns'), one('mean_p99_ns'))} | "
            f"{cnt(m('dropped'))} |"
        )
    return "\n".join(out)


def drain(runs):
    out = [
        f"Medians of {len(runs)} runs.\n",
        "| measurement | events/s end to end | producer alone/s | dropped | drain CPU ns/event | target |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for r in runs:
        for key in ("throughput_binary", "throughput_null", "throughput_json"):
            t = r.get(key, {})
            for who in ("producer_cpu", "drain_cpu"):
                cpu = t.get(who) or {}
                if isinstance(cpu.get("on_cpu_secs"), (int, float)) and t.get("events"):
                    cpu["ns_per_event"] = cpu["on_cpu_secs"] * 1e9 / t["events"]
    for key in ("throughput_binary", "throughput_null", "throughput_json"):
        if key not in runs[0]:
            continue
        m = lambda *k: med(runs, key, *k)
        target = runs[0][key].get("target_events_per_s")
        out.append(
            f"| {key.removeprefix('throughput_')} | {num(m('events_per_s'))} | {num(m('producer_events_per_s'))} | "
            f"{ns(m('dropped'))} | {ns(m('drain_cpu', 'ns_per_event'))} | {'≥ ' + num(target) + '/s' if target else '—'} |"
        )
    w = lambda *k: med(runs, "wake_latency", *k)
    out += [
        "",
        "| drain wake latency after a swap | p50 µs | p99 µs | max µs | target |",
        "|---|--:|--:|--:|---|",
        f"| swap call end → sink entered | {w('from_swap_call_end', 'p50_us')} | {w('from_swap_call_end', 'p99_us')} | "
        f"{w('from_swap_call_end', 'max_us')} | p99 ≤ 1000 µs |",
        f"| swap call start → sink entered | {w('from_swap_call_start', 'p50_us')} | "
        f"{w('from_swap_call_start', 'p99_us')} | {w('from_swap_call_start', 'max_us')} | — |",
        "",
        f"Idle drain: {med(runs, 'idle', 'wakeups_per_s')} wake-ups/s (target ≤ 2/s).",
    ]
    return "\n".join(out)


def criterion_dir(root):
    """Point estimates (ns) of every benchmark under target/criterion."""
    res = {}
    for est in glob.glob(os.path.join(root, "**", "new", "estimates.json"), recursive=True):
        with open(os.path.join(os.path.dirname(est), "benchmark.json")) as f:
            bid = json.load(f)["full_id"]
        with open(est) as f:
            e = json.load(f)
        res[bid] = {"median_ns": e["median"]["point_estimate"], "mean_ns": e["mean"]["point_estimate"]}
    return res


def criterion(runs):
    ids = sorted(runs[0].keys())
    out = [
        f"Medians of {len(runs)} runs of criterion's per-benchmark median (ns per call).\n",
        "| benchmark | ns per call | net of clock/tsc_pair |",
        "|---|--:|--:|",
    ]
    tsc = med(runs, "clock/tsc_pair", "median_ns")
    for i in ids:
        v = med(runs, i, "median_ns")
        timed_alone = i.startswith(("ring_swap", "recovery_check", "clock/"))
        net = f"{v - tsc:.1f}" if (timed_alone and tsc is not None and i != "clock/tsc_pair") else "—"
        out.append(f"| {i} | {v:.1f} | {net} |")
    return "\n".join(out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--criterion":
        print(json.dumps(criterion_dir(sys.argv[2])))
        return
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = sys.argv[1]
    for kind, f in (("peers", peers), ("latency", latency), ("drain", drain), ("criterion", criterion)):
        runs = load(d, kind)
        if runs:
            print(f"### {kind}\n\n{f(runs)}\n")


if __name__ == "__main__":
    main()
