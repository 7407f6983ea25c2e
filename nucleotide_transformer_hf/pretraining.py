"""Masked-LM pretraining on genomes, the Nucleotide Transformer recipe on `datasets`, `Trainer` and Accelerate.

FASTA files (one species per file by default, optional per-species sampling weights) are cut into windows that fill
the model's context (`window_bp_for`), with a stride and random offsets, on both strands, dropping windows that are
mostly `N`. They become a cached, tokenized `datasets.Dataset` or a streaming `datasets.IterableDataset`
(`build_pretraining_datasets`), split into training and held-out parts by record, by file or by the tail of every
record (`HeldOutSplit`).

`MLMCollator` masks as the paper: 15% of the sequence tokens are selected; 80% of those become `<mask>`, 10% a
different random nucleotide token, 10% stay unchanged; labels are -100 everywhere else. Masks are a pure function of
(seed, epoch, the example's token ids), so they are the same whichever process, data-loader worker or resumed run
collates the example. `masked_lm_loss` divides the summed cross-entropy by the number of selected tokens in the whole
step (all gradient-accumulation micro-batches, all processes), so N processes compute the gradient of 1 process with
the same global batch.

`PretrainingTrainer` is `Trainer` with these defaults plus the paper's learning-rate schedule (`WarmupInverseSqrt`);
`pretraining_arguments` fills `TrainingArguments` with the paper's optimiser settings and derives gradient
accumulation from an effective batch counted in tokens.
"""

import csv
import functools
import hashlib
import json
import math
import os
import random
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, EvalPrediction, Trainer, TrainerCallback, TrainingArguments

from .dna import read_fasta, reverse_complement, sequence_windows

# ---- the paper's recipe (shared/design/nt-reference.md §4) -----------------------------------------------------

MLM_PROBABILITY = 0.15
"""Fraction of sequence tokens selected for prediction."""
MASK_REPLACE_PROB = 0.8
"""Of the selected tokens, the fraction replaced by `<mask>`."""
RANDOM_REPLACE_PROB = 0.1
"""Of the selected tokens, the fraction replaced by a different random nucleotide token (the rest stay unchanged)."""
PAPER_PEAK_LR = 1e-4
"""Learning rate at the end of the warm-up."""
PAPER_WARMUP_START_LR = 5e-5
"""Learning rate at step 0 (the warm-up starts here, not at 0)."""
PAPER_WARMUP_STEPS = 16_000
"""Linear warm-up length in optimiser steps; inverse-square-root decay afterwards."""
PAPER_TOKENS_PER_STEP = 1_000_000
"""Effective batch of one optimiser step, in tokens (about 1,000 sequences of 1,000 tokens)."""
PAPER_ADAM = {"adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "weight_decay": 0.0}
"""Adam settings; with weight decay 0, `Trainer`'s AdamW is exactly Adam."""

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fa.gz", ".fasta.gz", ".fna.gz", ".fas.gz")
"""File names recognised as FASTA when a folder is given."""

_WINDOW_FEATURES = {
    "sequence": "string",
    "species": "string",
    "source": "string",
    "record": "string",
    "start": "int64",
    "strand": "string",
}


# ---- windows -------------------------------------------------------------------------------------------------


def window_bp_for(config: Any, tokenizer: Any, kmer_size: int = 6) -> int:
    """Window length in bases that fills the model's context with 6-mers: `(tokens - specials) * 6`.

    12,282 bp for v2 (2,048 tokens, `<cls>` included), 5,994 bp for v1 (1,000 tokens). The context is the smaller of
    `config.context_length` and `tokenizer.model_max_length`. A window containing `N` gives more tokens (the grid
    restarts after each `N`) and is truncated to the context.
    """
    tokens = min(config.context_length, tokenizer.model_max_length)
    return (tokens - tokenizer.num_special_tokens_to_add()) * kmer_size


def _stable_int(*parts: object) -> int:
    """A 63-bit integer from the parts, the same on every machine and process (unlike `hash`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def species_name(path: str | os.PathLike) -> str:
    """Species label of a FASTA file: its name without FASTA/gzip suffixes (`ecoli_K12.fa.gz` -> `ecoli_K12`)."""
    name = Path(path).name
    for suffix in sorted(FASTA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_fasta_files(paths: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """Maps species to FASTA files. Each path is a FASTA file or a folder (its FASTA files, not recursive).

    Every file is one species named by `species_name`; pass a mapping to `build_pretraining_datasets` to group files
    differently. Raises `FileNotFoundError` naming a path that does not exist or a folder without FASTA files.
    """
    species: dict[str, list[Path]] = {}
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(FASTA_SUFFIXES))
            if not files:
                raise FileNotFoundError(f"{path}: no FASTA files ({', '.join(FASTA_SUFFIXES)}) in this folder.")
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"{path}: no such FASTA file or folder.")
        for file in files:
            species.setdefault(species_name(file), []).append(file)
    return species


@dataclass(frozen=True)
class WindowOptions:
    """How records are cut into training windows.

    Args:
        window_bp: window length in bases (see `window_bp_for`).
        stride_bp: distance between window starts; default `window_bp` (no overlap).
        random_offset: start each record's window grid at a random offset in `[0, stride_bp)`, drawn from
            (seed, pass, file, record), so repeated passes see shifted windows.
        strands: `"both"` (each window and its reverse complement), `"forward"`, or `"random"` (one strand per
            window, drawn from the seed).
        max_n_fraction: drop windows whose fraction of `N`/`n` exceeds this (0.5: windows dominated by `N`).
        allow_iupac: read IUPAC ambiguity codes as `N` (else they are an error naming file, record and position).
        seed: seed of the offsets and strand draws.
    """

    window_bp: int
    stride_bp: int | None = None
    random_offset: bool = True
    strands: str = "both"
    max_n_fraction: float = 0.5
    allow_iupac: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.window_bp <= 0:
            raise ValueError(f"window_bp must be positive, got {self.window_bp}.")
        if self.stride_bp is not None and self.stride_bp <= 0:
            raise ValueError(f"stride_bp must be positive, got {self.stride_bp}.")
        if self.strands not in ("both", "forward", "random"):
            raise ValueError(f"strands must be 'both', 'forward' or 'random', got {self.strands!r}.")
        if not 0.0 <= self.max_n_fraction <= 1.0:
            raise ValueError(f"max_n_fraction must be in [0, 1], got {self.max_n_fraction}.")

    def for_evaluation(self) -> "WindowOptions":
        """Held-out windows: forward strand, no overlap, no random offset, so each held-out base is scored once."""
        return replace(self, stride_bp=None, random_offset=False, strands="forward")


@dataclass(frozen=True)
class HeldOutSplit:
    """Which DNA is held out from training.

    Args:
        records: record (chromosome) names held out entirely, e.g. `{"chrM", "NC_012920.1"}`.
        files: FASTA file names (not paths) held out entirely.
        tail_fraction: of every other record, the last fraction is held out (windows never cross the cut).
    """

    records: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    tail_fraction: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "records", frozenset(self.records))
        object.__setattr__(self, "files", frozenset(self.files))
        if not 0.0 <= self.tail_fraction < 1.0:
            raise ValueError(f"tail_fraction must be in [0, 1), got {self.tail_fraction}.")

    def regions(self, path: str | os.PathLike, record: str, length: int) -> dict[str, tuple[int, int]]:
        """`{"train": (start, end), "held_out": (start, end)}` for one record (a part may be missing)."""
        if Path(path).name in self.files or record in self.records:
            return {"held_out": (0, length)}
        if self.tail_fraction > 0:
            cut = int(length * (1 - self.tail_fraction))
            return {"train": (0, cut), "held_out": (cut, length)}
        return {"train": (0, length)}


_N_TRANSLATION = str.maketrans("RYSWKMBDHVryswkmbdhv", "NNNNNNNNNNnnnnnnnnnn")
_VALID = frozenset("ACGTNacgtn")


def _checked_sequence(sequence: str, path: Path, record: str, allow_iupac: bool) -> str:
    if allow_iupac:
        sequence = sequence.translate(_N_TRANSLATION)
    if not set(sequence) <= _VALID:  # set() of a chromosome is one C-level pass
        position = next(i for i, c in enumerate(sequence) if c not in _VALID)
        hint = "" if allow_iupac else " (IUPAC codes are accepted as N with allow_iupac=True)"
        raise ValueError(
            f"{path}, record {record}: invalid character {sequence[position]!r} at 0-based position {position}{hint}."
        )
    return sequence


def iter_genome_windows(
    path: str | os.PathLike,
    options: WindowOptions,
    *,
    split: str = "train",
    held_out: HeldOutSplit = HeldOutSplit(),
    species: str | None = None,
    passes: int = 1,
) -> Iterator[dict[str, Any]]:
    """Yields the windows of one FASTA file for `split` (`"train"` or `"held_out"`), one record in memory at a time.

    Each window is a dict: `sequence` (case kept; the reverse complement of lowercase stays lowercase), `species`,
    `source` (file name), `record`, `start` (0-based forward-strand start) and `strand` (`"+"` or `"-"`). With
    `passes > 1` the file is cut `passes` times, each pass with its own random offsets.
    """
    path = Path(path)
    species = species or species_name(path)
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}.")
    stride = options.stride_bp or options.window_bp
    for record in read_fasta(path):
        region = held_out.regions(path, record.name, len(record.sequence)).get(split)
        if region is None:
            continue
        sequence = _checked_sequence(record.sequence, path, record.name, options.allow_iupac)
        region_start, region_end = region
        part = sequence[region_start:region_end]
        for pass_index in range(passes):
            rng = random.Random(_stable_int(options.seed, pass_index, path.name, record.name))
            offset = rng.randrange(stride) if options.random_offset else 0
            for start, window in sequence_windows(part, options.window_bp, stride, offset):
                n_count = window.count("N") + window.count("n")
                if n_count > options.max_n_fraction * options.window_bp:
                    continue
                base = {"species": species, "source": path.name, "record": record.name, "start": region_start + start}
                if options.strands == "random":
                    strands = [rng.choice("+-")]
                else:
                    strands = ["+", "-"] if options.strands == "both" else ["+"]
                for strand in strands:
                    seq = window if strand == "+" else reverse_complement(window)
                    yield {"sequence": seq, **base, "strand": strand}


def _windows_generator(
    jobs: list[tuple[str, str, int, int]], options: WindowOptions, split: str, held_out: HeldOutSplit, passes: int
) -> Iterator[dict[str, Any]]:
    # `jobs` is a list so that `datasets` shards it over processes; size and mtime invalidate the cache on edits.
    for species, path, _size, _mtime in jobs:
        yield from iter_genome_windows(path, options, split=split, held_out=held_out, species=species, passes=passes)


def _tokenize_windows(batch: dict[str, list], tokenizer: Any, max_length: int) -> dict[str, list]:
    try:
        encoded = tokenizer(batch["sequence"], truncation=True, max_length=max_length, return_attention_mask=False)
    except ValueError as error:
        for i, sequence in enumerate(batch["sequence"]):
            try:
                tokenizer(sequence, truncation=True, max_length=max_length)
            except ValueError:
                raise ValueError(
                    f"{batch['source'][i]}, record {batch['record'][i]}, window at {batch['start'][i]} "
                    f"({batch['strand'][i]} strand): {error}"
                ) from error
        raise
    return {"input_ids": encoded["input_ids"]}


def _features():
    from datasets import Features, Value

    return Features({name: Value(dtype) for name, dtype in _WINDOW_FEATURES.items()})


def build_pretraining_datasets(
    files: Mapping[str, Sequence[str | os.PathLike]] | Iterable[str | os.PathLike],
    tokenizer: Any,
    options: WindowOptions,
    *,
    held_out: HeldOutSplit = HeldOutSplit(),
    species_weights: Mapping[str, float] | None = None,
    streaming: bool = False,
    passes: int = 1,
    max_length: int | None = None,
    keep_sequence: bool = False,
    shuffle_buffer: int = 10_000,
    num_proc: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Tokenized training and held-out windows: `{"train": ..., "held_out": ...}` (`held_out` is `None` if empty).

    Args:
        files: `{species: [FASTA paths]}`, or paths/folders (one species per file, see `find_fasta_files`).
        tokenizer: the model's tokenizer; windows are truncated to `max_length` tokens (default its
            `model_max_length`).
        options: windowing (`WindowOptions`); held-out windows use `options.for_evaluation()`.
        held_out: what is held out (`HeldOutSplit`); every held-out window lies outside every training window.
        species_weights: `{species: weight}` sampling weights for training; species are interleaved with these
            probabilities until every species has been seen in full (small ones repeat). Default: all windows once.
        streaming: `datasets.IterableDataset`s that read the FASTA lazily (for genomes larger than memory; training
            windows are buffer-shuffled). Otherwise `datasets.Dataset`s written once to the `datasets` cache
            (`cache_dir`) with `num_proc` processes and reused by later runs with the same inputs.
        passes: cut the training files this many times, each with fresh random offsets.
        keep_sequence: keep the `sequence` column next to `input_ids` (the metadata columns `species`, `source`,
            `record`, `start`, `strand` are always kept; `Trainer` drops them before the model).
    """
    from datasets import Dataset, IterableDataset, interleave_datasets

    groups = dict(files) if isinstance(files, Mapping) else find_fasta_files(files)
    if species_weights is not None:
        unknown = sorted(set(species_weights) - set(groups))
        missing = sorted(set(groups) - set(species_weights))
        if unknown or missing:
            raise ValueError(
                f"species_weights must name exactly the species {sorted(groups)}; unknown: {unknown}, missing: {missing}."
            )
        if any(w < 0 for w in species_weights.values()) or sum(species_weights.values()) <= 0:
            raise ValueError(f"species_weights must be non-negative with a positive sum, got {dict(species_weights)}.")
    max_length = max_length or tokenizer.model_max_length
    tokenize_kwargs = {"tokenizer": tokenizer, "max_length": max_length}
    removed = [] if keep_sequence else ["sequence"]

    def jobs_of(species: str) -> list[tuple[str, str, int, int]]:
        jobs = []
        for path in groups[species]:
            stat = Path(path).stat()
            jobs.append((species, str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns))
        return jobs

    def one(species_list: list[str], split: str):
        jobs = [job for species in species_list for job in jobs_of(species)]
        split_options = options if split == "train" else options.for_evaluation()
        gen_kwargs = {
            "jobs": jobs,
            "options": split_options,
            "split": split,
            "held_out": held_out,
            "passes": passes if split == "train" else 1,
        }
        if streaming:
            dataset = IterableDataset.from_generator(_windows_generator, features=_features(), gen_kwargs=gen_kwargs)
            return dataset.map(_tokenize_windows, batched=True, fn_kwargs=tokenize_kwargs, remove_columns=removed)
        try:
            dataset = Dataset.from_generator(
                _windows_generator,
                features=_features(),
                gen_kwargs=gen_kwargs,
                cache_dir=cache_dir,
                num_proc=min(num_proc, len(jobs)) if num_proc and len(jobs) > 1 else None,
                split=split,
            )
        except ValueError as error:  # `datasets` raises "... corresponds to no data" on an empty generator
            if "no data" in str(error):
                return None
            raise
        if len(dataset) == 0:
            return None
        return dataset.map(
            _tokenize_windows,
            batched=True,
            fn_kwargs=tokenize_kwargs,
            remove_columns=removed,
            num_proc=num_proc,
            desc=f"tokenizing {split} windows",
        )

    species_names = sorted(groups)
    if species_weights is None:
        train = one(species_names, "train")
    else:
        names = [s for s in species_names if species_weights[s] > 0]
        parts = [one([s], "train") for s in names]
        kept = [(p, species_weights[s]) for p, s in zip(parts, names) if p is not None]
        total = sum(w for _, w in kept)
        train = (
            interleave_datasets(
                [p for p, _ in kept],
                probabilities=[w / total for _, w in kept],
                seed=options.seed,
                stopping_strategy="all_exhausted",
            )
            if kept
            else None
        )
    if train is None:
        raise ValueError(
            f"No training windows of {options.window_bp} bp in {sum(len(v) for v in groups.values())} FASTA files: "
            "records shorter than a window, all held out, or mostly N."
        )
    if streaming:
        train = train.shuffle(seed=options.seed, buffer_size=shuffle_buffer)
    held = one(species_names, "held_out") if (held_out.records or held_out.files or held_out.tail_fraction) else None
    return {"train": train, "held_out": held}


# ---- masking -------------------------------------------------------------------------------------------------


class MLMCollator(DataCollatorForLanguageModeling):
    """Pads and masks token ids as the paper: 15% selected, of which 80% `<mask>`, 10% random, 10% unchanged.

    Differs from transformers' `DataCollatorForLanguageModeling` (whose probabilities and padding it keeps) in three
    ways, each needed here:

    * **Deterministic masks.** A row's mask is drawn from a generator seeded by (seed, epoch, the row's token ids),
      not from a stream shared by the batch. The stock collator draws from one stream per process, so 2 processes
      with half batches would mask different tokens than 1 process with the whole batch, and a resumed run would
      mask differently from an uninterrupted one. Here both see the same masks. `MaskEpochCallback` (added by
      `PretrainingTrainer`) sets the epoch so that each epoch masks anew.
    * **Random replacements are nucleotide tokens**, never specials, and never the original token ("a different
      random token"). The stock collator draws from `len(tokenizer)`, which includes `<pad>`, `<cls>`, `<eos>`,
      ... and, for v1, ids 4105/4106 that have no row in the v1 embedding (an index error).
    * **Only nucleotide tokens (6-mers, single bases, `N`) can be selected**; `<cls>`, `<pad>`, `<mask>`, `<unk>`
      never are.

    Rows that already carry `labels` (see `with_fixed_masks`) are only padded.

    Args:
        tokenizer: the NT tokenizer.
        seed: seed of the masks.
        vocab_size: the model's vocabulary size; random replacements stay below it (v1: 4105).
        mlm_probability, mask_replace_prob, random_replace_prob: as in transformers (defaults: the paper's).
        pad_to_multiple_of: pad lengths to a multiple of this.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        seed: int = 0,
        vocab_size: int | None = None,
        mlm_probability: float = MLM_PROBABILITY,
        mask_replace_prob: float = MASK_REPLACE_PROB,
        random_replace_prob: float = RANDOM_REPLACE_PROB,
        pad_to_multiple_of: int | None = None,
    ):
        super().__init__(
            tokenizer=tokenizer,
            mlm=True,
            mlm_probability=mlm_probability,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
            pad_to_multiple_of=pad_to_multiple_of,
            seed=seed,
            return_tensors="pt",
        )
        self.epoch = 0
        vocab = tokenizer.get_vocab()
        limit = vocab_size if vocab_size is not None else len(vocab)
        ids = sorted(i for token, i in vocab.items() if token and set(token) <= set("ACGTN") and i < limit)
        if not ids:
            raise ValueError("The tokenizer has no nucleotide tokens (A/C/G/T/N k-mers) to mask.")
        self.candidate_ids = torch.tensor(ids, dtype=torch.long)
        self.selectable = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)
        self.selectable[self.candidate_ids] = True
        self.mask_token_id = tokenizer.mask_token_id
        self.pad_token_id = tokenizer.pad_token_id

    @classmethod
    def for_evaluation(cls, tokenizer: Any, *, seed: int = 0, vocab_size: int | None = None) -> "MLMCollator":
        """The held-out masking: 15% selected, all replaced by `<mask>`, so accuracy measures prediction from context
        (with 10% unchanged tokens a model could score by copying its input)."""
        return cls(tokenizer, seed=seed, vocab_size=vocab_size, mask_replace_prob=1.0, random_replace_prob=0.0)

    def set_epoch(self, epoch: int) -> None:
        """Masks depend on the epoch, so each pass over the data masks different tokens."""
        self.epoch = int(epoch)

    def mask_row(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(masked input_ids, labels)` for one unpadded row; a pure function of (seed, epoch, input_ids)."""
        ids = torch.as_tensor(input_ids, dtype=torch.long)
        header = struct.pack("<qq", int(self.seed or 0), self.epoch)
        digest = hashlib.blake2b(header + ids.numpy().astype("<i8").tobytes(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
        n = ids.numel()
        uniform = torch.rand(2, n, generator=generator)
        offsets = torch.randint(0, max(len(self.candidate_ids) - 1, 1), (n,), generator=generator)

        in_table = ids < len(self.selectable)
        selected = torch.zeros(n, dtype=torch.bool)
        selected[in_table] = self.selectable[ids[in_table]]
        selected &= uniform[0] < self.mlm_probability
        to_mask = selected & (uniform[1] < self.mask_replace_prob)
        to_random = selected & (uniform[1] >= self.mask_replace_prob)
        to_random &= uniform[1] < self.mask_replace_prob + self.random_replace_prob

        # Skip the original token: draw among the K-1 others by shifting draws at or above its rank.
        rank = torch.searchsorted(self.candidate_ids, ids).clamp(max=len(self.candidate_ids) - 1)
        replacement = self.candidate_ids[offsets + (offsets >= rank).long()]
        masked = ids.clone()
        masked[to_mask] = self.mask_token_id
        masked[to_random] = replacement[to_random]
        labels = torch.where(selected, ids, torch.full_like(ids, -100))
        return masked, labels

    def torch_call(self, examples: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Pads `input_ids` (right, with `<pad>`) and masks rows that have no `labels` yet."""
        rows = [torch.as_tensor(e["input_ids"] if isinstance(e, Mapping) else e, dtype=torch.long) for e in examples]
        length = max(len(r) for r in rows)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(rows), length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), length), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, (row, example) in enumerate(zip(rows, examples)):
            if isinstance(example, Mapping) and "labels" in example:
                masked, row_labels = row, torch.as_tensor(example["labels"], dtype=torch.long)
            else:
                masked, row_labels = self.mask_row(row)
            input_ids[i, : len(row)] = masked
            labels[i, : len(row)] = row_labels
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _fix_masks(batch: dict[str, list], collator: MLMCollator) -> dict[str, list]:
    pairs = [collator.mask_row(torch.tensor(ids)) for ids in batch["input_ids"]]
    return {"input_ids": [m.tolist() for m, _ in pairs], "labels": [lab.tolist() for _, lab in pairs]}


def with_fixed_masks(dataset: Any, collator: MLMCollator, num_proc: int | None = None) -> Any:
    """The dataset with masks applied once (`input_ids` masked, `labels` added), for held-out evaluation: every
    evaluation scores the same masked tokens, so numbers are comparable across checkpoints and runs."""
    kwargs = {"num_proc": num_proc, "desc": "masking held-out windows"} if hasattr(dataset, "num_rows") else {}
    return dataset.map(_fix_masks, batched=True, fn_kwargs={"collator": collator}, **kwargs)


class MaskEpochCallback(TrainerCallback):
    """Tells the collator the epoch at each epoch start (also after a resume, from the checkpoint's state)."""

    def __init__(self, collator: MLMCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(int(state.epoch + 1e-9))


# ---- loss and metrics ----------------------------------------------------------------------------------------


def masked_lm_loss(
    outputs: Any, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None
) -> torch.Tensor:
    """Summed cross-entropy over selected tokens (labels != -100) divided by `num_items_in_batch`.

    `Trainer` passes the number of selected tokens in the whole optimiser step: all gradient-accumulation
    micro-batches and, with `average_tokens_across_devices` (its default), all processes; it then multiplies the
    loss by the number of processes, which DDP's gradient averaging undoes. The gradient is therefore that of the
    mean over every selected token of the global batch, however the batch is split. Without a count (a plain call)
    it is the mean over this batch.
    """
    logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
    labels = labels.to(logits.device)
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else labels.ne(-100).sum()
    if torch.is_tensor(count):
        count = count.to(total.device).clamp(min=1)
    else:
        count = max(int(count), 1)
    return total / count


def mlm_logits_to_predictions(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`Trainer.preprocess_logits_for_metrics`: keeps (argmax id, NLL of the label) per token instead of the 4k-wide
    logits, so held-out evaluation needs O(tokens) memory."""
    if isinstance(logits, tuple):
        logits = logits[0]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    safe = labels.clamp(min=0)
    nll = -log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    nll = torch.where(labels.ne(-100), nll, torch.zeros_like(nll))
    return torch.stack([log_probs.argmax(-1).float(), nll], dim=-1)


def kmer_bases(tokenizer: Any, k: int = 6) -> np.ndarray:
    """`(vocabulary, k)` int8 table: the bases (A=0, C=1, G=2, T=3) of every k-mer token, -1 rows for the rest."""
    vocab = tokenizer.get_vocab()
    table = np.full((max(vocab.values()) + 1, k), -1, dtype=np.int8)
    code = {"A": 0, "C": 1, "G": 2, "T": 3}
    for token, i in vocab.items():
        if len(token) == k and set(token) <= set(code):
            table[i] = [code[c] for c in token]
    return table


def _base_accuracy(predicted: np.ndarray, labels: np.ndarray, table: np.ndarray) -> float:
    truth = table[labels]
    kmer = (truth >= 0).all(axis=1)
    guessed = table[np.clip(predicted, 0, len(table) - 1)]
    return float((guessed[kmer] == truth[kmer]).mean()) if kmer.any() else float("nan")


def compute_mlm_metrics(prediction: EvalPrediction, tokenizer: Any | None = None) -> dict[str, float]:
    """Masked-token accuracy, mean masked-token loss (nats) and perplexity `exp(loss)`, over every selected token.

    With a tokenizer, also `masked_base_accuracy`: over masked 6-mers, the fraction of their 6 bases that the
    predicted token has right (a 6-mer exactly right scores 1, a wrong one still scores its matching bases), which
    shows what a model learned about composition long before it predicts whole 6-mers.
    """
    values = np.asarray(prediction.predictions)
    labels = np.asarray(prediction.label_ids)
    selected = labels != -100
    count = int(selected.sum())
    if count == 0:
        return {"masked_tokens": 0.0}
    predicted = values[..., 0][selected].astype(np.int64)
    correct = predicted == labels[selected]
    loss = float(values[..., 1][selected].astype(np.float64).mean())
    metrics = {
        "masked_accuracy": float(correct.mean()),
        "masked_loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "masked_tokens": float(count),
    }
    if tokenizer is not None:
        metrics["masked_base_accuracy"] = _base_accuracy(predicted, labels[selected], kmer_bases(tokenizer))
    return metrics


def frequency_baseline(
    train_dataset: Iterable[Mapping[str, Any]],
    held_out: Iterable[Mapping[str, Any]],
    tokenizer: Any,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """What the training 6-mer frequencies alone score at the held-out masked positions (`held_out` with fixed
    masks): the accuracy (and base accuracy, see `compute_mlm_metrics`) of always predicting the most common
    training token, and the cross-entropy of the frequencies (add-one smoothed over the nucleotide tokens). Reads at
    most `max_examples` training rows."""
    vocab = tokenizer.get_vocab()
    nucleotide = np.zeros(max(vocab.values()) + 1, dtype=bool)
    nucleotide[[i for t, i in vocab.items() if t and set(t) <= set("ACGTN")]] = True
    counts = np.zeros(len(nucleotide), dtype=np.int64)
    for n, example in enumerate(train_dataset):
        if max_examples is not None and n >= max_examples:
            break
        counts += np.bincount(np.asarray(example["input_ids"]), minlength=len(counts))[: len(counts)]
    counts[~nucleotide] = 0
    token_id = int(counts.argmax())
    smoothed = np.where(nucleotide, counts + 1.0, 0.0)
    log_p = np.log(np.maximum(smoothed, 1e-300) / smoothed.sum())
    hits = total = 0
    loss = 0.0
    selected = []
    for example in held_out:
        labels = np.asarray(example["labels"])
        labels = labels[labels != -100]
        total += len(labels)
        hits += int((labels == token_id).sum())
        loss -= float(log_p[labels].sum())
        selected.append(labels)
    selected = np.concatenate(selected) if selected else np.zeros(0, dtype=np.int64)
    base_accuracy = _base_accuracy(np.full_like(selected, token_id), selected, kmer_bases(tokenizer))
    return {
        "token": tokenizer.convert_ids_to_tokens(token_id),
        "token_id": token_id,
        "train_frequency": float(counts[token_id] / max(counts.sum(), 1)),
        "held_out_accuracy": hits / max(total, 1),
        "held_out_loss": loss / max(total, 1),
        "held_out_base_accuracy": base_accuracy,
        "held_out_masked_tokens": total,
    }


# ---- model and tokenizer -------------------------------------------------------------------------------------


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`["num_hidden_layers=2", "rope_theta=5e5", "token_dropout=false"]` -> a dict; values are read as JSON when
    they parse (numbers, booleans, null), else kept as strings. Raises `ValueError` naming an item without `=`."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"config override {item!r} is not of the form key=value.")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return overrides


def load_model_config(spec: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> Any:
    """A `NucleotideTransformerConfig` from a folder with `config.json` (e.g. `hub_configs/<name>`), a JSON file, or
    a preset name (`"v1"`, `"v2"`, a published model name), with `overrides` applied."""
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig

    overrides = dict(overrides or {})
    path = Path(spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: folder has no config.json.")
        return NucleotideTransformerConfig.from_pretrained(str(path), **overrides)
    if path.suffix == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such config file.")
        config = NucleotideTransformerConfig.from_json_file(str(path))
        return NucleotideTransformerConfig.from_dict({**config.to_dict(), **overrides})
    return NucleotideTransformerConfig.from_preset(str(spec), **overrides)


def load_tokenizer(config: Any, source: str | os.PathLike | None = None) -> Any:
    """The tokenizer saved in `source` (a folder with `tokenizer.json` or `vocab.txt`), else the built-in one whose
    vocabulary layout matches `config` (v1: 4,105 embedding rows, v2 otherwise)."""
    from transformers import AutoTokenizer

    from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

    if (
        source is not None
        and Path(source).is_dir()
        and any((Path(source) / name).is_file() for name in ("tokenizer.json", "vocab.txt"))
    ):
        return AutoTokenizer.from_pretrained(str(source))
    layout = config.architecture_version or ("v1" if config.vocab_size == 4105 else "v2")
    return NucleotideTransformerTokenizerFast(vocab_layout=layout)


# ---- optimiser, schedule, arguments --------------------------------------------------------------------------


@dataclass(frozen=True)
class WarmupInverseSqrt:
    """LR multiplier (of the peak LR): linear from `start_factor` to 1 over `warmup_steps`, then `sqrt(warmup / step)`.

    The paper's schedule is `WarmupInverseSqrt(16_000, 5e-5 / 1e-4)` with peak 1e-4. A picklable object rather than a
    lambda, so that `LambdaLR` saves it in checkpoints and resumes exactly.
    """

    warmup_steps: int = PAPER_WARMUP_STEPS
    start_factor: float = PAPER_WARMUP_START_LR / PAPER_PEAK_LR

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps
        return math.sqrt(max(self.warmup_steps, 1) / max(step, 1))


def gradient_accumulation_for(
    tokens_per_step: int, per_device_batch_size: int, sequence_tokens: int, world_size: int = 1
) -> int:
    """Micro-batches per optimiser step so that one step sees at least `tokens_per_step` tokens:
    `ceil(tokens_per_step / (per_device_batch_size * sequence_tokens * world_size))`, at least 1."""
    if min(tokens_per_step, per_device_batch_size, sequence_tokens, world_size) <= 0:
        raise ValueError("tokens_per_step, per_device_batch_size, sequence_tokens and world_size must be positive.")
    return max(1, math.ceil(tokens_per_step / (per_device_batch_size * sequence_tokens * world_size)))


def resolve_bf16(mode: str) -> bool:
    """`"auto"`: bf16 on a CUDA device that supports it, else fp32; `"yes"` forces it (also on CPU); `"no"`."""
    if mode == "auto":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if mode in ("yes", "no"):
        return mode == "yes"
    raise ValueError(f"bf16 must be 'auto', 'yes' or 'no', got {mode!r}.")


def _has_accelerator() -> bool:
    if hasattr(torch, "accelerator"):
        return torch.accelerator.current_accelerator() is not None
    return torch.cuda.is_available()


def pretraining_arguments(
    output_dir: str | os.PathLike,
    *,
    sequence_tokens: int,
    per_device_train_batch_size: int = 8,
    tokens_per_step: int | None = PAPER_TOKENS_PER_STEP,
    world_size: int | None = None,
    learning_rate: float = PAPER_PEAK_LR,
    bf16: str = "auto",
    **overrides: Any,
) -> TrainingArguments:
    """`TrainingArguments` with the paper's optimiser (Adam 0.9/0.999/1e-8, no weight decay, peak LR 1e-4) and
    gradient accumulation derived from `tokens_per_step` (the effective batch in tokens; `None`: no accumulation).

    `world_size` defaults to the `WORLD_SIZE` that `accelerate launch` / `torchrun` set. The learning-rate schedule
    is `PretrainingTrainer`'s (`WarmupInverseSqrt`). `overrides` go to `TrainingArguments` unchanged.
    """
    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = (
        gradient_accumulation_for(tokens_per_step, per_device_train_batch_size, sequence_tokens, world_size)
        if tokens_per_step
        else 1
    )
    values: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": per_device_train_batch_size,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": learning_rate,
        "bf16": resolve_bf16(bf16),
        "lr_scheduler_type": "constant",  # replaced by PretrainingTrainer.create_scheduler
        "dataloader_pin_memory": torch.cuda.is_available(),
        # Without it, N processes on a machine with no accelerator each train alone (transformers leaves the
        # gloo group it finds unused); with it they form one data-parallel job.
        "use_cpu": not _has_accelerator(),
        **PAPER_ADAM,
        "report_to": [],
    }
    values.update(overrides)
    return TrainingArguments(**values)


class PretrainingTrainer(Trainer):
    """`Trainer` for masked-LM pretraining with this module's defaults.

    Unless given otherwise: loss `masked_lm_loss` (normalised over the global batch), metrics
    `compute_mlm_metrics` (held-out masked-token accuracy, loss, perplexity) via `mlm_logits_to_predictions`, a
    `MaskEpochCallback` for an `MLMCollator`, and the learning-rate schedule `schedule` (default: the paper's
    `WarmupInverseSqrt()`) as a `LambdaLR` over `args.learning_rate`. Pass `schedule=None` to use
    `args.lr_scheduler_type` instead.
    """

    def __init__(self, *args: Any, schedule: WarmupInverseSqrt | None = WarmupInverseSqrt(), **kwargs: Any):
        kwargs.setdefault("compute_loss_func", masked_lm_loss)
        kwargs.setdefault("preprocess_logits_for_metrics", mlm_logits_to_predictions)
        collator = kwargs.get("data_collator")
        kwargs.setdefault(
            "compute_metrics", functools.partial(compute_mlm_metrics, tokenizer=getattr(collator, "tokenizer", None))
        )
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        if isinstance(self.data_collator, MLMCollator):
            self.add_callback(MaskEpochCallback(self.data_collator))

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The `schedule` as a `LambdaLR` (its step count is saved in checkpoints); Trainer's own otherwise."""
        if self.schedule is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.schedule)
        self._created_lr_scheduler = True
        return self.lr_scheduler


# ---- checkpoints, logs, plots --------------------------------------------------------------------------------

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def latest_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest complete `checkpoint-N` folder in `output_dir`, or `None`.

    Complete means its `trainer_state.json` (which `Trainer` writes last) parses and says step N, so a checkpoint
    cut short by a kill is skipped in favour of the one before it.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT.match(path.name)
        if not match or not path.is_dir():
            continue
        try:
            state = json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("global_step") == int(match.group(1)):
            found.append((int(match.group(1)), str(path)))
    return max(found)[1] if found else None


class CSVLoggerCallback(TrainerCallback):
    """Appends every logged number to a CSV file as `step,epoch,name,value` (main process only).

    On a resumed run, rows after the resumed step (logged by the run that was killed) are dropped first, so the file
    tells one consistent history.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if self.path.exists():
            with self.path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= state.global_step]
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "epoch", "name", "value"])
            writer.writeheader()
            writer.writerows(rows)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["step", "epoch", "name", "value"])
            for name, value in logs.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    writer.writerow([state.global_step, state.epoch, name, value])


def plot_loss_curve(
    log_history: Sequence[Mapping[str, Any]], path: str | os.PathLike, baseline: Mapping[str, Any] | None = None
) -> Path:
    """Writes a PNG against optimiser steps: training and held-out masked-LM loss, held-out masked-token accuracy
    and, when logged, base accuracy; a `frequency_baseline` result, when given, is drawn as dashed lines. Uses
    matplotlib's Agg canvas, so no display is needed and the global backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(key: str) -> tuple[list[int], list[float]]:
        points = [(e["step"], e[key]) for e in log_history if key in e and "step" in e]
        return [p[0] for p in points], [p[1] for p in points]

    panels = [
        (
            "cross-entropy (nats)",
            [("loss", "training loss"), ("eval_masked_loss", "held-out masked-token loss")],
            "held_out_loss",
            "training 6-mer frequencies",
        ),
        (
            "6-mer accuracy",
            [("eval_masked_accuracy", "held-out masked-token accuracy")],
            "held_out_accuracy",
            "always the most common 6-mer",
        ),
    ]
    if series("eval_masked_base_accuracy")[0]:
        panels.append(
            (
                "base accuracy",
                [("eval_masked_base_accuracy", "held-out masked-token base accuracy")],
                "held_out_base_accuracy",
                "always the most common 6-mer",
            )
        )
    figure = Figure(figsize=(5 * len(panels), 4))
    FigureCanvasAgg(figure)
    for axes, (ylabel, keys, baseline_key, baseline_label) in zip(figure.subplots(1, len(panels)), panels):
        for key, label in keys:
            steps, values = series(key)
            if steps:
                axes.plot(steps, values, marker="." if len(steps) < 50 else None, label=label)
        if baseline is not None and baseline.get(baseline_key) is not None:
            axes.axhline(baseline[baseline_key], color="grey", linestyle="--", label=baseline_label)
        axes.set_xlabel("optimiser step")
        axes.set_ylabel(ylabel)
        axes.legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


__all__ = [
    "CSVLoggerCallback",
    "HeldOutSplit",
    "MLMCollator",
    "MaskEpochCallback",
    "PretrainingTrainer",
    "WarmupInverseSqrt",
    "WindowOptions",
    "build_pretraining_datasets",
    "compute_mlm_metrics",
    "find_fasta_files",
    "frequency_baseline",
    "gradient_accumulation_for",
    "iter_genome_windows",
    "kmer_bases",
    "latest_checkpoint",
    "load_model_config",
    "load_tokenizer",
    "masked_lm_loss",
    "mlm_logits_to_predictions",
    "parse_overrides",
    "plot_loss_curve",
    "pretraining_arguments",
    "resolve_bf16",
    "species_name",
    "window_bp_for",
    "with_fixed_masks",
]
