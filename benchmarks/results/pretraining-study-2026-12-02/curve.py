"""The pretraining study's learning curve: downstream MCC and held-out perplexity against pretraining tokens and
CPU-hours, from the folders `run.sh` writes.

    python benchmarks/results/pretraining-study-2026-12-02/curve.py [RUNS] [--out FOLDER]

Reads `RUNS/<size>/log.csv` (held-out evaluation every 500 steps), `RUNS/<size>/metrics.json` (the 6-mer frequency
baseline on the same held-out windows) and `RUNS/eval/<size>-step<N>/results.csv`, `RUNS/eval/<size>-baselines/`
(from `evaluate-tasks`); writes `curve.csv`, `curve.md` and `curve.png` beside this file (or to `--out`).
"""

import argparse
import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZES = ("small", "medium")
BATCH = 16
SEQUENCE_TOKENS = 600 // 6 + 1  # 100 6-mers and <cls>
THREADS = 1


def read_log(path: Path) -> dict[int, dict[str, float]]:
    """step -> {name: value} from a `CSVLoggerCallback` file."""
    rows: dict[int, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(int(row["step"]), {})[row["name"]] = float(row["value"])
    return rows


def read_results(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def collect(runs: Path) -> tuple[list[dict], list[dict], dict]:
    """(held-out rows, MCC rows, per-size facts)."""
    held_out, mcc, facts = [], [], {}
    for size in SIZES:
        folder = runs / size
        if not (folder / "log.csv").is_file():
            continue
        log = read_log(folder / "log.csv")
        metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        max_step = max(log)
        runtime = next((v["train_runtime"] for s, v in sorted(log.items()) if "train_runtime" in v), None)
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
        seconds_per_step = runtime / max_step if runtime else None
        facts[size] = {
            "steps": max_step,
            "train_seconds": runtime,
            "baseline_perplexity": math.exp(metrics["baseline_frequency_loss"]) if metrics else None,
            "baseline_masked_accuracy": metrics.get("baseline_masked_accuracy"),
            "shape": {k: config.get(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads")},
        }

        def position(step: int, _seconds=seconds_per_step) -> dict:
            return {
                "step": step,
                "tokens": step * BATCH * SEQUENCE_TOKENS,
                "cpu_hours": None if _seconds is None else step * _seconds * THREADS / 3600,
            }

        for step, values in sorted(log.items()):
            if "eval_perplexity" in values:
                held_out.append(
                    {
                        "size": size,
                        **position(step),
                        "perplexity": values["eval_perplexity"],
                        "masked_accuracy": values["eval_masked_accuracy"],
                    }
                )
        for evaluation in sorted((runs / "eval").glob(f"{size}-*")):
            if not (evaluation / "results.csv").is_file():
                continue
            tag = evaluation.name.split("-", 1)[1]
            step = int(tag.removeprefix("step")) if tag.startswith("step") else None
            for row in read_results(evaluation / "results.csv"):
                mcc.append(
                    {
                        "size": size,
                        **(position(step) if step is not None else {"step": None, "tokens": None, "cpu_hours": None}),
                        "task": row["task"].split("/")[-1],
                        "method": row["method"],
                        "mcc_mean": float(row["mcc_mean"]),
                        "mcc_sd": float(row["mcc_sd"]) if row["mcc_sd"] not in ("", "nan") else float("nan"),
                    }
                )
    return held_out, mcc, facts


def mean_over_tasks(rows: list[dict]) -> dict[tuple, float]:
    """(size, method, step) -> mean over tasks of the per-task mean MCC."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault((row["size"], row["method"], row["step"]), []).append(row["mcc_mean"])
    return {key: sum(values) / len(values) for key, values in groups.items()}


def write_tables(held_out: list[dict], mcc: list[dict], facts: dict, out: Path) -> None:
    with (out / "curve.csv").open("w", newline="") as handle:
        fields = ["kind", "size", "step", "tokens", "cpu_hours", "task", "method", "value", "sd"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in held_out:
            for kind in ("perplexity", "masked_accuracy"):
                writer.writerow({**{k: row[k] for k in fields if k in row}, "kind": kind, "value": row[kind]})
        for row in mcc:
            writer.writerow(
                {
                    **{k: row[k] for k in fields if k in row},
                    "kind": "mcc",
                    "value": row["mcc_mean"],
                    "sd": row["mcc_sd"],
                }
            )

    lines = ["# Pretraining study: the curve", ""]
    for size, fact in facts.items():
        lines.append(
            f"- **{size}** ({fact['shape']}): {fact['steps']:,} steps, "
            f"{fact['steps'] * BATCH * SEQUENCE_TOKENS / 1e6:.1f} M tokens, "
            f"{(fact['train_seconds'] or 0) / 3600:.2f} CPU-hours of training ({THREADS} thread); 6-mer frequency "
            f"baseline perplexity on the held-out windows {fact['baseline_perplexity']:.1f}"
        )
    lines += [
        "",
        "## Held-out masked-LM perplexity",
        "",
        "| size | step | M tokens | CPU-h | perplexity | masked 6-mer acc. |",
    ]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for row in held_out:
        lines.append(
            f"| {row['size']} | {row['step']:,} | {row['tokens'] / 1e6:.2f} | {row['cpu_hours'] or 0:.3f} | "
            f"{row['perplexity']:,.1f} | {row['masked_accuracy']:.2%} |"
        )
    tasks = sorted({row["task"] for row in mcc})
    lines += ["", "## Downstream MCC (mean ± sd over 2 seeds)", ""]
    lines.append("| size | method | step | M tokens | " + " | ".join(tasks) + " | mean |")
    lines.append("|---|---|---:|---:|" + "---:|" * (len(tasks) + 1))
    means = mean_over_tasks(mcc)
    keys = sorted({(r["size"], r["method"], r["step"]) for r in mcc}, key=lambda k: (k[0], k[1], k[2] or -1))
    for size, method, step in keys:
        cells = []
        for task in tasks:
            match = [r for r in mcc if (r["size"], r["method"], r["step"], r["task"]) == (size, method, step, task)]
            cells.append(f"{match[0]['mcc_mean']:.3f} ± {match[0]['mcc_sd']:.3f}" if match else "")
        tokens = "" if step is None else f"{step * BATCH * SEQUENCE_TOKENS / 1e6:.2f}"
        lines.append(
            f"| {size} | {method} | {'' if step is None else f'{step:,}'} | {tokens} | "
            + " | ".join(cells)
            + f" | {means[(size, method, step)]:.3f} |"
        )
    (out / "curve.md").write_text("\n".join(lines) + "\n")


def plot(held_out: list[dict], mcc: list[dict], facts: dict, out: Path) -> None:
    tasks = sorted({row["task"] for row in mcc})
    panels = [*tasks, "mean over tasks", "held-out perplexity"]
    columns = 3
    fig, axes = plt.subplots(math.ceil(len(panels) / columns), columns, figsize=(15, 8.5), squeeze=False)
    colours = {"small": "tab:blue", "medium": "tab:orange"}
    means = mean_over_tasks(mcc)
    for ax, panel in zip(axes.flat, panels):
        if panel == "held-out perplexity":
            for size in facts:
                rows = [r for r in held_out if r["size"] == size]
                ax.plot(
                    [r["tokens"] / 1e6 for r in rows],
                    [r["perplexity"] for r in rows],
                    "-o",
                    ms=3,
                    color=colours[size],
                    label=size,
                )
                if facts[size]["baseline_perplexity"]:
                    ax.axhline(
                        facts[size]["baseline_perplexity"],
                        color=colours[size],
                        ls=":",
                        lw=1,
                        label=f"{size}: 6-mer frequencies",
                    )
            ax.axhline(4096, color="grey", ls="--", lw=1, label="uniform (4,096)")
            ax.set_ylabel("perplexity (masked 6-mers)")
        else:
            for size in facts:
                for method, style in (("ia3", "-o"), ("probing", "--s")):
                    if panel == "mean over tasks":
                        points = sorted((s, v) for (z, m, s), v in means.items() if z == size and m == method)
                        xs, ys, sds = [s for s, _ in points], [v for _, v in points], None
                    else:
                        rows = sorted(
                            (r for r in mcc if (r["size"], r["method"], r["task"]) == (size, method, panel)),
                            key=lambda r: r["step"],
                        )
                        xs, ys, sds = (
                            [r["step"] for r in rows],
                            [r["mcc_mean"] for r in rows],
                            [r["mcc_sd"] for r in rows],
                        )
                    tokens = [s * BATCH * SEQUENCE_TOKENS / 1e6 for s in xs]
                    ax.errorbar(
                        tokens, ys, yerr=sds, fmt=style, ms=3, capsize=2, color=colours[size], label=f"{size} {method}"
                    )
                for method, style in (("kmer", ":"), ("random", "-.")):
                    if panel == "mean over tasks":
                        value = means.get((size, method, None))
                    else:
                        match = [r for r in mcc if (r["size"], r["method"], r["task"]) == (size, method, panel)]
                        value = match[0]["mcc_mean"] if match else None
                    if value is not None and (method == "random" or size == "small"):
                        label = "6-mer LR" if method == "kmer" else f"{size} random init, full training"
                        ax.axhline(
                            value, color="black" if method == "kmer" else colours[size], ls=style, lw=1, label=label
                        )
            ax.set_ylabel("MCC")
        ax.set_title(panel)
        ax.set_xlabel("pretraining tokens (millions)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    axes.flat[len(panels) - 1].legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("NT-v2 pretraining on six genomes (1 CPU thread): downstream MCC and held-out perplexity")
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="?", type=Path, default=Path("runs/pretraining-study"))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    held_out, mcc, facts = collect(args.runs)
    write_tables(held_out, mcc, facts, args.out)
    plot(held_out, mcc, facts, args.out)
    print(f"wrote {args.out / 'curve.csv'}, curve.md, curve.png")


if __name__ == "__main__":
    main()
