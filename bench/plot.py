#!/usr/bin/env python3
"""Turns Google Benchmark JSON from bobbin's benchmarks into SVG charts.

    bench_fib      --benchmark_out=fib.json      --benchmark_out_format=json
    bench_policies --benchmark_out=policies.json --benchmark_out_format=json
    bench_channels --benchmark_out=channels.json --benchmark_out_format=json
    python3 bench/plot.py --fib fib.json --policies policies.json --channels channels.json \\
        --out docs/charts --machine "2 vCPU x86-64, 2.6 GHz, Debian 12, g++ 12"

writes fib.svg (time of fib(n) against n, log scale: serial, bobbin, oneTBB, OpenMP),
policies.svg (tasks per second of each scheduling policy on each workload) and
channels.svg (messages per second and round-trip latency: bobbin's channels beside
moodycamel's queue and a mutex + condition variable queue). Any input may be left out;
only its chart is skipped. With --benchmark_repetitions the median aggregate is plotted,
otherwise the median of the runs of the same name. Needs matplotlib (Debian:
python3-matplotlib); if the python3 on PATH lacks it, the system /usr/bin/python3 is used.
"""
import argparse
import json
import os
import pathlib
import sys

try:
    import matplotlib
except ImportError:
    system_python = "/usr/bin/python3"
    if os.path.exists(system_python) and os.path.realpath(sys.executable) != os.path.realpath(system_python) \
            and not os.environ.get("BOBBIN_PLOT_REEXEC"):
        os.environ["BOBBIN_PLOT_REEXEC"] = "1"
        os.execv(system_python, [system_python, *sys.argv])
    sys.exit("bench/plot.py needs matplotlib: apt-get install python3-matplotlib (or pip install matplotlib)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

# Same input, same file: no timestamp, fixed ids in the SVG.
plt.rcParams.update({
    "svg.hashsalt": "bobbin",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
})
SAVE = {"format": "svg", "metadata": {"Date": None}, "bbox_inches": "tight"}

TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

# Series known by name: label and colour, in the order drawn. bobbin is blue, its peers
# other colours, baselines grey. A series not listed here is still drawn, after these.
FIB_SERIES = {
    "serial": ("serial, one call per fib call", "#7f7f7f"),
    "serial_inlined": ("serial, recursion inlined by the compiler", "#bdbdbd"),
    "bobbin_task_group": ("bobbin task_group", "#1f5fbf"),
    "bobbin_submit": ("bobbin submit + future", "#6baed6"),
    "tbb_task_group": ("oneTBB task_group", "#e6550d"),
    "openmp_tasks": ("OpenMP tasks", "#31a354"),
}
POLICIES = {
    "work_stealing": ("work_stealing", "#1f5fbf"),
    "least_busy": ("least_busy", "#6baed6"),
    "round_robin": ("round_robin", "#9ecae1"),
    "priority": ("priority", "#756bb1"),
    "fifo": ("fifo", "#bcbddc"),
}
POLICY_WORKLOADS = {
    "empty": "empty tasks (1,000,000)",
    "skewed": "skewed tasks (10,000: 1 µs / 100 µs)",
    "fib25": "fib(25), one task per call",
}
QUEUES = {
    "bobbin_unbounded": ("bobbin channel (unbounded)", "#1f5fbf"),
    "bobbin_bounded": ("bobbin channel (capacity 1024)", "#6baed6"),
    "moodycamel_blocking": ("moodycamel BlockingConcurrentQueue", "#e6550d"),
    "mutex_condvar": ("std::mutex + condition_variable", "#7f7f7f"),
}
CHANNEL_WORKLOADS = {
    "spsc": "1 producer → 1 consumer",
    "mpmc": "2 producers → 2 consumers",
}
FALLBACK_COLOURS = ["#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728"]


def load(path):
    """The benchmark runs of one JSON file, one dict per name: the median aggregate when
    there are repetitions, else the median of the runs. Failed runs are left out."""
    data = json.loads(pathlib.Path(path).read_text())
    runs, medians = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            print(f"{path}: {b['name']} failed: {b.get('error_message', '')}", file=sys.stderr)
            continue
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = b
        else:
            runs.setdefault(name, []).append(b)
    picked = dict(medians)
    for name, group in runs.items():
        if name not in picked:
            picked[name] = sorted(group, key=lambda b: b["real_time"])[len(group) // 2] if len(group) > 1 else group[0]
    return data.get("context", {}), picked


def seconds(b):
    return b["real_time"] * TO_SECONDS[b.get("time_unit", "ns")]


def ordered(found, known):
    """The names in `found`, those of `known` first in its order, the others after."""
    return [k for k in known if k in found] + sorted(k for k in found if k not in known)


def style(name, known, index):
    label, colour = known.get(name, (name, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]))
    return label, colour


def subtitle(context, machine):
    where = machine or "{} CPUs at {} MHz".format(context.get("num_cpus", "?"), context.get("mhz_per_cpu", "?"))
    parts = [where]
    if "threads" in context:
        parts.append(f"{context['threads']} pool threads")
    if context.get("date"):
        parts.append(context["date"][:10])
    return " · ".join(parts)


def si(value, _pos=None):
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def duration(value, _pos=None):
    for factor, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def finish(fig, title, sub, path):
    """Title and subtitle above the axes, a fixed distance apart whatever the figure's size."""
    top = max(ax.get_position().y1 for ax in fig.axes)
    panel_title_lines = max(len(ax.get_title().splitlines()) for ax in fig.axes)
    gap = 8 + 13 * panel_title_lines
    above = offset_copy(fig.transFigure, fig=fig, y=gap, units="points")
    fig.text(0.5, top, sub, ha="center", va="bottom", fontsize=9, color="#555555", transform=above)
    above = offset_copy(fig.transFigure, fig=fig, y=gap + 14, units="points")
    fig.text(0.5, top, title, ha="center", va="bottom", fontsize=13, fontweight="bold", transform=above)
    fig.savefig(path, **SAVE)
    plt.close(fig)
    print(f"wrote {path}")


def plot_fib(path, machine, out):
    context, runs = load(path)
    series = {}
    for name, b in runs.items():
        parts = name.split("/")
        n = next((int(p[2:]) for p in parts if p.startswith("n:")), None)
        if n is not None:
            series.setdefault(parts[0], {})[n] = seconds(b)
    if not series:
        print(f"{path}: no fib/n:N benchmarks, fib.svg not written", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, family in enumerate(ordered(series, FIB_SERIES)):
        label, colour = style(family, FIB_SERIES, i)
        points = sorted(series[family].items())
        ax.plot([n for n, _ in points], [t for _, t in points], marker="o", label=label, color=colour,
                linewidth=2.2 if family.startswith("bobbin") else 1.4,
                linestyle="--" if family.startswith("serial") else "-")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(duration))
    ax.set_xlabel("n")
    ax.set_ylabel("time per fib(n), log scale (lower is better)")
    ns = sorted({n for s in series.values() for n in s})
    ax.set_xticks(ns)
    ax.legend(frameon=False)
    finish(fig, "Recursive fib(n), one task per call", subtitle(context, machine), out / "fib.svg")
    return True


def bar_panels(ax_list, panels, names, known, value, formatter, ylabel):
    """One bar chart per panel; each bar a name (policy, queue) with its value written on it."""
    for ax, (title, rows) in zip(ax_list, panels):
        xs = list(range(len(names)))
        for x, name in zip(xs, names):
            label, colour = style(name, known, x)
            v = value(rows[name]) if name in rows else None
            if v is None:
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=8, color="#999999")
                continue
            ax.bar(x, v, color=colour, label=label)
            ax.text(x, v, formatter(v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(xs)
        ax.set_xticklabels([style(n, known, i)[0] for i, n in enumerate(names)], rotation=30, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(formatter))
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.15)
    ax_list[0].set_ylabel(ylabel)


def plot_policies(path, machine, out):
    context, runs = load(path)
    table = {}
    for name, b in runs.items():
        parts = name.split("/")
        if len(parts) >= 2 and "items_per_second" in b:
            table.setdefault(parts[0], {})[parts[1]] = b
    if not table:
        print(f"{path}: no workload/policy benchmarks with items_per_second, policies.svg not written", file=sys.stderr)
        return False
    workloads = ordered(table, POLICY_WORKLOADS)
    policies = ordered({p for rows in table.values() for p in rows}, POLICIES)
    fig, axes = plt.subplots(1, len(workloads), figsize=(3.6 * len(workloads), 4.4), squeeze=False)
    panels = [(POLICY_WORKLOADS.get(w, w), table[w]) for w in workloads]
    bar_panels(list(axes[0]), panels, policies, POLICIES, lambda b: b["items_per_second"], si,
               "tasks per second (higher is better)")
    finish(fig, "Tasks per second, by scheduling policy", subtitle(context, machine), out / "policies.svg")
    return True


def plot_channels(path, machine, out):
    context, runs = load(path)
    table = {}
    for name, b in runs.items():
        head = name.split("/")[0]
        if "<" in head and head.endswith(">"):
            workload, queue = head[:-1].split("<", 1)
            table.setdefault(workload, {})[queue] = b
    if not table:
        print(f"{path}: no workload<queue> benchmarks, channels.svg not written", file=sys.stderr)
        return False
    queues = ordered({q for rows in table.values() for q in rows}, QUEUES)
    throughput = [w for w in ordered(table, CHANNEL_WORKLOADS) if w != "pingpong"]
    latency = "pingpong" in table
    count = len(throughput) + (1 if latency else 0)
    fig, axes = plt.subplots(1, count, figsize=(3.8 * count, 4.6), squeeze=False)
    axes = list(axes[0])
    if throughput:
        panels = [(CHANNEL_WORKLOADS.get(w, w), table[w]) for w in throughput]
        bar_panels(axes[:len(throughput)], panels, queues, QUEUES, lambda b: b.get("items_per_second"), si,
                   "messages per second (higher is better)")
    if latency:
        ax = axes[-1]
        rows = table["pingpong"]
        width = 0.38
        for x, queue in enumerate(queues):
            label, colour = style(queue, QUEUES, x)
            b = rows.get(queue)
            if b is None or "median_us" not in b:
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=8, color="#999999")
                continue
            for offset, key, alpha in ((-width / 2, "median_us", 1.0), (width / 2, "p99_us", 0.45)):
                ax.bar(x + offset, b[key], width, color=colour, alpha=alpha)
                ax.text(x + offset, b[key], f"{b[key]:.3g}", ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_title("round trip between two threads\n(solid: median, light: 99th percentile)", fontsize=10)
        ax.set_xticks(range(len(queues)))
        ax.set_xticklabels([style(q, QUEUES, i)[0] for i, q in enumerate(queues)], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("µs, log scale (lower is better)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.15)
    finish(fig, "Channels between threads", subtitle(context, machine), out / "channels.svg")
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fib", help="bench_fib's JSON output")
    parser.add_argument("--policies", help="bench_policies' JSON output")
    parser.add_argument("--channels", help="bench_channels' JSON output")
    parser.add_argument("--out", default="docs/charts", help="directory for the SVG files (default: docs/charts)")
    parser.add_argument("--machine", default="", help="the machine, named in each chart's subtitle")
    args = parser.parse_args()
    if not (args.fib or args.policies or args.channels):
        parser.error("give at least one of --fib, --policies, --channels")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [plot(path, args.machine, out)
               for path, plot in ((args.fib, plot_fib), (args.policies, plot_policies), (args.channels, plot_channels))
               if path]
    sys.exit(0 if all(written) else 1)


if __name__ == "__main__":
    main()
