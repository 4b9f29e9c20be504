#!/usr/bin/env python3
"""Sum ncu's --csv gpu__time_duration.sum rows kernel by kernel: calls, mean, total (us).

usage: ncu_sum.py NCU.csv [--decode]   (--decode: only launches after the last prefill-only kernel)
"""
import csv
import sys


def main():
    rows = []
    with open(sys.argv[1], newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for r in csv.DictReader(lines):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        rows.append((r["Kernel Name"], float(r["Metric Value"].replace(",", "")) / 1000.0))
    agg = {}
    for name, us in rows:
        a = agg.setdefault(name, [0, 0.0])
        a[0] += 1
        a[1] += us
    total = sum(a[1] for a in agg.values())
    print("%d launches, %.1f us in kernels" % (len(rows), total))
    print("%-60s %6s %9s %10s %6s" % ("kernel", "calls", "us/call", "total us", "%"))
    for name, (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print("%-60s %6d %9.2f %10.1f %5.1f%%" % (name[:60], n, t / n, t, 100.0 * t / total if total else 0))


if __name__ == "__main__":
    main()
