#!/usr/bin/python3
"""Plots bench/compare.sh's CSV: client CPU microseconds per record, for each
client, role and configuration (record size x shards).

    /usr/bin/python3 bench/plot.py RESULTS.csv OUT.png [--whole-process]

One panel per role (producer, consumer); in each, a group of bars per
configuration, one bar per client, on a logarithmic axis, labelled with its
value. With --repeat, a bar is the median of the runs and a line spans
their least to their most. A configuration whose runs did not all deliver
every record is hatched and marked FAILED. --whole-process plots the CPU of
the whole client process (start-up included) instead of the measured
phase. Needs matplotlib (Debian: python3-matplotlib)."""

import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CLIENTS = [("kinesis", "libkinesis", "#1f77b4"),
           ("node", "AWS SDK for JavaScript v3", "#ff7f0e"),
           ("boto3", "boto3", "#2ca02c")]
ROLES = ["producer", "consumer"]


def size_label(b):
    b = int(b)
    return "%d KiB" % (b // 1024) if b % 1024 == 0 else "%d B" % b


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or any(a not in ("--whole-process",)
                             for a in argv if a.startswith("--")):
        sys.stderr.write(__doc__)
        return 2
    column = ("process_cpu_us_per_record" if "--whole-process" in argv
              else "cpu_us_per_record")
    with open(args[0], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.stderr.write("plot.py: %s has no results\n" % args[0])
        return 1

    configs = sorted({(int(r["size_bytes"]), int(r["shards"])) for r in rows})
    clients = [c for c in CLIENTS if any(r["client"] == c[0] for r in rows)]
    roles = [x for x in ROLES if any(r["role"] == x for r in rows)]

    fig, axes = plt.subplots(len(roles), 1, squeeze=False,
                             figsize=(max(7, 1.6 * len(configs) + 2),
                                      4.2 * len(roles)))
    width = 0.8 / max(1, len(clients))
    for ax, role in zip(axes[:, 0], roles):
        for k, (client, label, color) in enumerate(clients):
            xs, ys, lo, hi, failed = [], [], [], [], []
            for x, (size, shards) in enumerate(configs):
                runs = [r for r in rows if r["role"] == role and
                        r["client"] == client and
                        int(r["size_bytes"]) == size and
                        int(r["shards"]) == shards]
                if not runs:
                    continue
                bad = any(r["status"] != "ok" for r in runs)
                # A run without a result has no CPU figure: FAILED only.
                vals = [float(r[column]) for r in runs
                        if "no result" not in r["status"]]
                if not vals:
                    ax.text(x + (k - (len(clients) - 1) / 2) * width, 0.02,
                            "FAILED", rotation=90, ha="center", va="bottom",
                            fontsize=7, color="red",
                            transform=ax.get_xaxis_transform())
                    continue
                med = statistics.median(vals)
                xs.append(x + (k - (len(clients) - 1) / 2) * width)
                ys.append(med)
                lo.append(med - min(vals))
                hi.append(max(vals) - med)
                failed.append(bad)
            if not xs:
                continue
            bars = ax.bar(xs, ys, width, color=color, label=label,
                          yerr=[lo, hi] if any(lo) or any(hi) else None,
                          capsize=2)
            for bar, y, top, bad in zip(bars, ys, hi, failed):
                if bad:
                    bar.set_hatch("//")
                    bar.set_edgecolor("red")
                ax.annotate(("%.2f" % y if y < 10 else "%.0f" % y) +
                            ("\nFAILED" if bad else ""),
                            (bar.get_x() + bar.get_width() / 2, y + top),
                            xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7,
                            color="red" if bad else "black")
        ax.set_yscale("log")
        ax.set_xticks(range(len(configs)))
        ax.set_xticklabels(["%s\n%d shard%s" % (size_label(s), n,
                                                "" if n == 1 else "s")
                            for s, n in configs])
        ax.set_ylabel("client CPU, us per record")
        ax.set_title("%s: client CPU (user + system) per record%s; "
                     "lower is better" % (role.capitalize(),
                                          ", whole process"
                                          if column.startswith("process")
                                          else ""))
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.15)
    fig.text(0.01, 0.005, "bench/compare.sh against kinesalite; %s" %
             args[0], fontsize=7, color="gray")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=len(handles),
                   fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    fig.savefig(args[1], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
