"""The NT paper's published benchmark numbers and its evaluation protocol, for the "paper" column of `evaluate-tasks`.

`nt_paper_results.csv` (shipped with the package, `docs/paper_results.md`) holds one row per published number:
`benchmark` (`revised`: the 18 tasks of the Nature Methods version; `original`: the 18 tasks of the 2023 preprint),
`task` (the paper's task name), `model` (a Hub id for NT checkpoints, else a plain name), `metric` (`mcc`, `f1`), `value`
(a fraction), `sd`, `source` and `status` (`reported`, or `UNVERIFIED` where a number comes from a secondary source or
a plot). `method` (optional column) is the paper's fine-tuning (`ia3`) unless it says `probing`.

Task names map to the paper's only where the data are the paper's own: the last part of a task's name is the paper's
task name (`nt_revised_sample/promoter_all`, `nucleotide_transformer_downstream_tasks_revised/enhancers`) and the
benchmark is `revised` when the name says "revised", `original` when it names the original dataset or a task only
the original has (`H3`, `H4ac` …). GUE and Genomic Benchmarks tasks are other data sets (related tasks, other rows)
and get no paper number.
"""

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "data" / "nt_paper_results.csv"
"""The shipped table of published numbers."""

REVISED_TASKS = (
    "promoter_all",
    "promoter_tata",
    "promoter_no_tata",
    "enhancers",
    "enhancers_types",
    "splice_sites_all",
    "splice_sites_acceptors",
    "splice_sites_donors",
    "H2AFZ",
    "H3K27ac",
    "H3K27me3",
    "H3K36me3",
    "H3K4me1",
    "H3K4me2",
    "H3K4me3",
    "H3K9ac",
    "H3K9me3",
    "H4K20me1",
)
"""The revised benchmark's 18 tasks (Nature Methods 2024)."""

ORIGINAL_TASKS = (
    "promoter_all",
    "promoter_tata",
    "promoter_no_tata",
    "enhancers",
    "enhancers_types",
    "splice_sites_all",
    "splice_sites_acceptors",
    "splice_sites_donors",
    "H3",
    "H3K4me1",
    "H3K4me2",
    "H3K4me3",
    "H3K9ac",
    "H3K14ac",
    "H3K36me3",
    "H3K79me3",
    "H4",
    "H4ac",
)
"""The original benchmark's 18 tasks (2023 preprint)."""

SPELLINGS = {"splice_sites_acceptor": "splice_sites_acceptors", "splice_sites_donor": "splice_sites_donors"}
"""The revised dataset card's singular spellings of two task names."""


@dataclass(frozen=True)
class PaperNumber:
    """One published number."""

    benchmark: str
    task: str
    model: str
    method: str
    metric: str
    value: float
    sd: float | None
    source: str
    status: str


@lru_cache(maxsize=4)
def read_paper_results(path: str | None = None) -> tuple[PaperNumber, ...]:
    """Every row of the published-numbers table (`RESULTS_FILE` unless `path`)."""
    rows = []
    with open(path or RESULTS_FILE, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                value = float(row["value"])
                sd = float(row["sd"]) if row.get("sd") else None
            except ValueError as error:
                raise ValueError(f"{path or RESULTS_FILE}, line {line}: {error}") from error
            rows.append(
                PaperNumber(
                    row["benchmark"],
                    row["task"],
                    row["model"],
                    row.get("method") or "ia3",
                    row["metric"].lower(),
                    value,
                    sd,
                    row["source"],
                    row["status"],
                )
            )
    return tuple(rows)


def paper_task(task_name: str, benchmark: str = "auto") -> tuple[str, str] | None:
    """`(benchmark, paper task)` for one of our task names, or None when it is not one of the paper's data sets.

    `benchmark="auto"` reads it from the name (see the module docstring); a task name the two benchmarks share and
    that says neither is left unmatched (give `benchmark="revised"` or `"original"`)."""
    parts = task_name.split("/")
    task = SPELLINGS.get(parts[-1], parts[-1])
    prefix = "/".join(parts[:-1]).lower()
    if benchmark == "auto":
        if "revised" in prefix:
            benchmark = "revised"
        elif "nucleotide_transformer_downstream_tasks" in prefix or (
            task in ORIGINAL_TASKS and task not in REVISED_TASKS
        ):
            benchmark = "original"
        else:
            return None
    tasks = REVISED_TASKS if benchmark == "revised" else ORIGINAL_TASKS
    return (benchmark, task) if task in tasks else None


def paper_metric(benchmark: str, task: str) -> str:
    """The metric the paper reports for a task: MCC throughout the revised benchmark; in the original, F1 for the
    promoter and splice-site tasks and MCC for the others (as re-reported, docs/paper_results.md)."""
    if benchmark == "original" and task.startswith(("promoter", "splice_sites")):
        return "f1"
    return "mcc"


def published_models(rows: tuple[PaperNumber, ...] | None = None) -> list[str]:
    """The model names in the table, in first-appearance order."""
    return list(dict.fromkeys(row.model for row in (rows or read_paper_results())))


def match_published_model(name: str, rows: tuple[PaperNumber, ...] | None = None) -> str | None:
    """The published model a `--model` names: its Hub id itself, or a folder whose last part is the model's name
    (`…/nucleotide-transformer-v2-50m-multi-species`); None otherwise."""
    last = name.rstrip("/").split("/")[-1].lower()
    for model in published_models(rows):
        if name == model or last == model.split("/")[-1].lower():
            return model
    return None


def lookup(
    task_name: str, model: str, method: str, benchmark: str = "auto", rows: tuple[PaperNumber, ...] | None = None
) -> PaperNumber | None:
    """The published number for one of our (task, method) and a published model, or None."""
    matched = paper_task(task_name, benchmark)
    if matched is None:
        return None
    bench, task = matched
    metric = paper_metric(bench, task)
    for row in rows or read_paper_results():
        if (row.benchmark, row.task, row.model, row.method, row.metric) == (bench, task, model, method, metric):
            return row
    return None


def format_number(row: PaperNumber | None) -> str:
    """`0.581` (`0.581 ± 0.020` with an sd; a trailing `*` for UNVERIFIED), or empty."""
    if row is None or math.isnan(row.value):
        return ""
    text = f"{row.value:.3f}" + (f" ± {row.sd:.3f}" if row.sd is not None else "")
    return text + ("*" if row.status.upper().startswith("UNVERIFIED") else "")


NT_PAPER_PROTOCOL = {
    "splits": "each task's own train/test split (revised: chromosomes held out); 10 folds of the training set, each "
    "holding out 10% as validation for early stopping, the best-validation checkpoint tested on the test split",
    "metric": "MCC (revised benchmark); F1 for promoter and splice-site tasks of the original benchmark",
    "ia3": "Adam, learning rate 3e-3, batch 8, 10,000 steps per fold (capped here by --max-steps)",
    "probing": "frozen embeddings, logistic regression and a small MLP, best layer chosen on validation",
}
"""The paper's protocol as far as it is known (docs/unverified.md, docs/paper_results.md)."""

NT_PAPER_UNKNOWNS = (
    "sequence pooling for the fine-tuning head and for probing (CLS or mean; mean here)",
    "which ten layers the paper probed and its probe hyper-parameter sweeps (every layer, fixed probes here)",
    "IA3 placement in the SwiGLU FFN of v2 (after the gate product here)",
    "the early-stopping schedule (evaluation every --eval-steps with --patience here)",
    "the fold assignment (stratified, seed 0 here)",
)
"""What the paper's protocol leaves open, printed in the header of a `--protocol nt-paper` run."""


__all__ = [
    "NT_PAPER_PROTOCOL",
    "NT_PAPER_UNKNOWNS",
    "ORIGINAL_TASKS",
    "RESULTS_FILE",
    "REVISED_TASKS",
    "PaperNumber",
    "format_number",
    "lookup",
    "match_published_model",
    "paper_metric",
    "paper_task",
    "published_models",
    "read_paper_results",
]
