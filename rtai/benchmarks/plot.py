"""The benchmark plot: end-to-end latency percentiles against the input rate, the job, its floor and its peers.

Runs in the model environment (matplotlib), started by `make bench`:
    python -m rtai.benchmarks.plot bench/results/<date>-<host>.json out.png
"""

from __future__ import annotations

import matplotlib

from rtai.plot_args import json_in_png_out

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

SERIES = {
    "inference_job": ("inference job", "tab:blue"),
    "inference_job_feast_view": ("inference job, view from Feast", "tab:purple"),
    "parse_relay": ("parse relay (floor)", "tab:gray"),
    "asyncio_consumer": ("asyncio consumer", "tab:green"),
    "naive_baseline": ("naive baseline", "tab:red"),
}
PERCENTILES = {"p50": "-", "p99": "--"}


def main(argv: list[str] | None = None) -> None:
    result, out = json_in_png_out(__doc__.splitlines()[0], argv)
    figure, axes = plt.subplots(figsize=(8, 5))
    for key, (label, colour) in SERIES.items():
        if key not in result:  # results of runs before the floor and the peers were measured
            continue
        rows = [r for r in result[key]["fixed_rates"] if r["latency_ms"].get("count")]
        for percentile, style in PERCENTILES.items():
            axes.plot(
                [r["rate"] for r in rows],
                [r["latency_ms"][percentile] for r in rows],
                style,
                marker="o",
                color=colour,
                label=f"{label} {percentile}",
            )
        maximum = result[key]["max_sustained"]["events_per_s"]
        axes.axvline(maximum, color=colour, linestyle=":", label=f"{label} max sustained {maximum:,}/s")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("input rate (events/s)")
    axes.set_ylabel("end-to-end latency (ms): input publish -> prediction publish")
    machine = result["machine"]
    axes.set_title(f"{result['at'][:10]}, {machine['host']}: {machine['cores']} cores, {machine['memory_gib']} GiB")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
