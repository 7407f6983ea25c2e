"""Pretraining data: FASTA genomes -> context-sized windows -> tokenized `datasets` -> masked batches.

FASTA files (one species per file by default, optional per-species sampling weights) are cut into windows that fill
the model's context (`dna.context_bp`), with a stride and random offsets, on both strands, dropping windows that are
mostly `N`. They become a cached, tokenized `datasets.Dataset` or a streaming `datasets.IterableDataset`
(`build_pretraining_datasets`), split into training and held-out parts by record, by file or by the tail of every
record (`HeldOutSplit`).

`MLMCollator` masks as the paper: 15% of the sequence tokens are selected; 80% of those become `<mask>`, 10% a
different random nucleotide token, 10% stay unchanged; labels are -100 everywhere else. Masks are a pure function of
(seed, epoch, the example's token ids), so they are the same whichever process, data-loader worker or resumed run
collates the example. The loss, metrics and `Trainer` that consume these batches are in `pretraining`.
"""

import hashlib
import os
import random
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import DataCollatorForLanguageModeling, TrainerCallback

from .dna import FASTA_SUFFIXES, is_fasta_name, read_fasta, reverse_complement, sequence_windows, strip_sequence_suffix
from .errors import InputError

# ---- the paper's recipe (docs/pretraining.md#the-papers-recipe) -----------------------------------------------------

MLM_PROBABILITY = 0.15
"""Fraction of sequence tokens selected for prediction."""
MASK_REPLACE_PROB = 0.8
"""Of the selected tokens, the fraction replaced by `<mask>`."""
RANDOM_REPLACE_PROB = 0.1
"""Of the selected tokens, the fraction replaced by a different random nucleotide token (the rest stay unchanged)."""

_WINDOW_FEATURES = {
    "sequence": "string",
    "species": "string",
    "source": "string",
    "record": "string",
    "start": "int64",
    "strand": "string",
}


# ---- FASTA files and windows ---------------------------------------------------------------------------------


def _stable_int(*parts: object) -> int:
    """A 63-bit integer from the parts, the same on every machine and process (unlike `hash`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def species_name(path: str | os.PathLike) -> str:
    """Species label of a FASTA file: its name without the FASTA suffix (`dna.FASTA_SUFFIXES`) and `.gz`
    (`ecoli_K12.fa.gz` -> `ecoli_K12`); a name without a FASTA suffix is kept whole."""
    return strip_sequence_suffix(path) if is_fasta_name(path) else Path(path).name


def find_fasta_files(paths: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """Maps species to FASTA files. Each path is a FASTA file or a folder (its FASTA files, not recursive).

    Every file is one species named by `species_name`; pass a mapping to `build_pretraining_datasets` to group files
    differently. Raises `InputError` naming a path that does not exist or a folder without FASTA files.
    """
    species: dict[str, list[Path]] = {}
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and is_fasta_name(p))
            if not files:
                suffixes = ", ".join(FASTA_SUFFIXES)
                raise InputError(f"{path}: no FASTA files ({suffixes}, each optionally .gz) in this folder.")
        elif path.is_file():
            files = [path]
        else:
            raise InputError(f"{path}: no such FASTA file or folder.")
        for file in files:
            species.setdefault(species_name(file), []).append(file)
    return species


@dataclass(frozen=True)
class WindowOptions:
    """How records are cut into training windows.

    Args:
        window_bp: window length in bases (`dna.context_bp(config, tokenizer)` fills the model's context).
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
        raise InputError(
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
            raise InputError(
                f"species_weights must name exactly the species {sorted(groups)}; unknown: {unknown}, missing: {missing}."
            )
        if any(w < 0 for w in species_weights.values()) or sum(species_weights.values()) <= 0:
            raise InputError(f"species_weights must be non-negative with a positive sum, got {dict(species_weights)}.")
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
        raise InputError(
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


__all__ = [
    "MASK_REPLACE_PROB",
    "MLM_PROBABILITY",
    "RANDOM_REPLACE_PROB",
    "HeldOutSplit",
    "MLMCollator",
    "MaskEpochCallback",
    "WindowOptions",
    "build_pretraining_datasets",
    "find_fasta_files",
    "iter_genome_windows",
    "species_name",
    "with_fixed_masks",
]
