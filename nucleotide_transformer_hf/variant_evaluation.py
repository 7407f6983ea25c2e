"""Zero-shot AUROC on labelled variants (`nucleotide-transformer evaluate-variants`, the main job's last table).

A labelled table holds reference and alternative sequences of the same length that differ at one base, and a 0/1
label (1 = pathogenic); every zero-shot score of `variant_scoring.score_variants` is oriented by
`PATHOGENIC_DIRECTION` (fixed in advance, not fitted) and scored by its AUROC (scikit-learn), with a ROC plot.
"""

import csv
import json
import os
from pathlib import Path

import numpy as np

from .dna import open_maybe_gzip
from .errors import InputError
from .inference import DEFAULT_BATCH_SIZE
from .variant_scoring import SCORE_NAMES, score_variants
from .variants import format_score

PATHOGENIC_DIRECTION = {
    "cosine_similarity": -1,
    "l1_distance": 1,
    "l2_distance": 1,
    "dot_product": -1,
    "mlm_log_ratio": -1,
}
"""Sign that turns each score into "more likely pathogenic when larger" for AUROC (fixed, not fitted to data):
a bigger embedding change or a less likely alt allele counts as more damaging."""


def read_variant_windows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a labelled variant table (layout: docs/variants.md)
    (columns `ref_seq`, `alt_seq`, `label`, optionally `variant_id`); `path` is the CSV(.gz) or a folder holding
    `variants.csv.gz`."""
    path = Path(path)
    if path.is_dir():
        path = path / "variants.csv.gz"
    with open_maybe_gzip(path, "rt") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"ref_seq", "alt_seq", "label"} - set(rows[0] if rows else {})
    if not rows or missing:
        raise InputError(f"{path}: expected rows with columns ref_seq, alt_seq and label; missing {sorted(missing)}.")
    for number, row in enumerate(rows, start=2):
        if row["label"] not in ("0", "1"):
            raise InputError(f"{path}, line {number}: label must be 0 or 1, got {row['label']!r}.")
    return rows


def evaluate_variant_windows(
    model,
    tokenizer,
    path: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    max_variants: int | None = None,
    layer: int = -1,
    pooling: str = "mean",
    both_strands: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> dict[str, float]:
    """Scores labelled ref/alt sequence pairs with `score_variants` and returns the AUROC of each score.

    Each score is oriented by `PATHOGENIC_DIRECTION` (fixed in advance) so that an AUROC above 0.5 means the score
    ranks label-1 (pathogenic) variants as more damaging. Pairs that are not single-nucleotide changes are skipped.
    With `out_dir`, writes `scores.tsv` (per variant), `metrics.json` and `roc.png` there.

    Returns keys `variants`, `scored`, `positives`, `negatives` and `auroc_<score>` for each of `SCORE_NAMES`.
    """
    try:
        from sklearn.metrics import roc_auc_score, roc_curve
    except ImportError as error:
        raise ImportError("AUROC needs scikit-learn: pip install scikit-learn.") from error
    rows = read_variant_windows(path)[:max_variants]
    results = score_variants(
        model,
        tokenizer,
        [{"ref_sequence": row["ref_seq"], "alt_sequence": row["alt_seq"]} for row in rows],
        layer=layer,
        pooling=pooling,
        both_strands=both_strands,
        batch_size=batch_size,
        progress=progress,
    )
    scored = [(row, result) for row, result in zip(rows, results) if result["status"] == "scored"]
    labels = np.array([int(row["label"]) for row, _ in scored])
    if len(set(labels.tolist())) < 2:
        raise InputError(
            f"{path}: the scored variants need both labels for an AUROC (got {sorted(set(labels.tolist()))})."
        )
    metrics: dict[str, float] = {
        "variants": len(rows),
        "scored": len(scored),
        "positives": int(labels.sum()),
        "negatives": int((1 - labels).sum()),
    }
    curves = {}
    for name in SCORE_NAMES:
        oriented = PATHOGENIC_DIRECTION[name] * np.array([result[name] for _, result in scored])
        metrics[f"auroc_{name}"] = float(roc_auc_score(labels, oriented))
        curves[name] = roc_curve(labels, oriented)[:2]
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / "scores.tsv", "w", encoding="utf-8") as handle:
            handle.write("\t".join(["variant_id", "label", "status", "reason", *SCORE_NAMES]) + "\n")
            for index, (row, result) in enumerate(zip(rows, results)):
                cells = [
                    row.get("variant_id", str(index)),
                    row["label"],
                    result["status"],
                    result["reason"],
                    *(format_score(result[name]) for name in SCORE_NAMES),
                ]
                handle.write("\t".join(cells) + "\n")
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        plot_roc(curves, metrics, out_dir / "roc.png", title=f"{Path(path).name}: {len(scored)} variants")
    return metrics


def plot_roc(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    metrics: dict[str, float],
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """Saves ROC curves (false vs true positive rate per score, AUROC in the legend) as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    for name, (fpr, tpr) in curves.items():
        axis.plot(fpr, tpr, label=f"{name} (AUROC {metrics[f'auroc_{name}']:.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_metrics(metrics: dict[str, float]) -> str:
    """The AUROC table of `evaluate_variant_windows` as printable text."""
    lines = [
        f"zero-shot AUROC on {metrics['scored']} of {metrics['variants']} variants "
        f"({metrics['positives']} pathogenic, {metrics['negatives']} benign):"
    ]
    lines += [f"  {name:18} {metrics[f'auroc_{name}']:.3f}" for name in SCORE_NAMES]
    return "\n".join(lines)


__all__ = [
    "PATHOGENIC_DIRECTION",
    "evaluate_variant_windows",
    "format_metrics",
    "plot_roc",
    "read_variant_windows",
]
