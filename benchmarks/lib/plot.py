"""Draws benchmarks/throughput.png from the bars run-all.ts writes (python3 + matplotlib; run-all installs it).

Usage: plot.py <bars.json> <out.png>
bars.json: {"title": str, "subtitle": str, "bars": [{"label": str, "cpu": float|null, "wall": float|null,
"group": "ours"|"tool"|"old"}]} — throughput in lines per CPU-second and per wall-clock second.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ours": "#2b7bba", "tool": "#8c8c8c", "old": "#d9822b"}


def human(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def panel(ax, bars, key, title):
    labels = [b["label"] for b in bars]
    values = [b[key] or 0 for b in bars]
    colors = [COLORS.get(b.get("group"), "#555555") for b in bars]
    y = range(len(bars))
    ax.barh(y, values, color=colors)
    ax.set_yticks(list(y), labels, fontsize=10)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=11, loc="left")
    top = max(values) if values else 1
    ax.set_xlim(0, top * 1.22)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: human(v) if v else "0"))
    for i, (v, b) in enumerate(zip(values, bars)):
        ax.text(v + top * 0.01, i, human(v) if b[key] else "n/a", va="center", fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    bars = spec["bars"]
    fig, (cpu_ax, wall_ax) = plt.subplots(2, 1, figsize=(10, 7.5), dpi=110)
    panel(cpu_ax, bars, "cpu", "log lines per CPU-second (one core; higher is better)")
    panel(wall_ax, bars, "wall", "log lines per wall-clock second (shared, loaded machine)")
    fig.suptitle(spec["title"], fontsize=13, x=0.02, ha="left")
    fig.text(0.02, 0.925, spec["subtitle"], fontsize=9, color="#444444", ha="left")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    # The short bars (raw-line shipping) sit at the bottom, so the lower right of each panel is free.
    cpu_ax.legend(handles, ["ours", "other tools", "old design: raw lines to Kafka"], loc="lower right", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.91))
    fig.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
