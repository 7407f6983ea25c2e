"""VCF in, zero-shot variant scores out (`nucleotide-transformer score-variants`), and AUROC on a labelled set
(`nucleotide-transformer evaluate-variants`).

    nucleotide-transformer score-variants --vcf calls.vcf.gz --fasta hg19.fa.gz --model MODEL --out scores.tsv
    accelerate launch --multi_gpu --num_processes 4 -m nucleotide_transformer_hf score-variants ...  # sharded

The scores and windows are those of `nucleotide_transformer_hf.pipelines` (same code); this module adds:

* **Reading the VCF** (plain or bgzip/gzip, by content). Each ALT allele of a record is one output row (`allele` =
  1, 2, ...: multi-allelic records are split). The whole file is refused with a `VcfError` naming the file and line
  when it is empty, has data before the `#CHROM` header, a header that is not `#CHROM POS ID REF ALT ...`, is not
  text or not valid gzip, or when *every* data line is malformed. Otherwise a malformed line (fewer than 8 columns,
  POS not a positive integer, REF not A/C/G/T/N, empty ALT) becomes one row with `allele` 0, status `skipped` and
  reason `malformed: ...`.
* **Contig names**: a VCF contig is looked up as written, then with `chr` added or removed (`MT` ↔ `chrM`). Records
  whose contig is still unknown are `skipped` (`contig: ...`); if no contig of the VCF is found, the run is refused.
* **REF check**: the REF of every record is compared with the FASTA; a difference (or a POS past the contig's end)
  makes its rows `flagged` (`mismatch: ...`), never scored.
* **Outcomes** (`status`): `scored`; `flagged` (REF disagrees with the FASTA); `skipped` with a reason — `indel`,
  `mnv`, `symbolic` (`<DEL>`, `*`, `.`), `allele` (N or non-ACGT alleles), `contig`, `window` (too many N),
  `malformed`. The end of the run prints these counts.
* **Windows**: centred on the variant and snapped to a grid (`variant_scoring.variant_window`); variants in the same window
  share its reference and masked passes (`--no-share-windows` recomputes them, same numbers).
* **Output** (`--out`, `.tsv` or `.parquet`): one row per allele in VCF order with the columns of `OUTPUT_COLUMNS`;
  `window_start`/`window_end` are 1-based inclusive FASTA coordinates; scores are empty (null) unless scored. The
  file is written to a temporary name and renamed, so it is either absent or complete.
* **Resume**: scored variants are processed in chunks (whole windows, about `--chunk-size` variants each). Each
  finished chunk is written atomically to `<out>.partial/chunk-NNNNNN.tsv`; `<out>.partial/meta.json` holds a
  fingerprint of the VCF content, the FASTA's contigs, the model (path, config, weight files) and every scoring
  option. Rerunning the same command after an interruption computes only the missing chunks and writes the same
  output file as an uninterrupted run; a different fingerprint is refused unless `--restart`. The folder is deleted
  when the output is written.
* **Several processes** (`accelerate launch`, `accelerate.PartialState`): chunk `i` belongs to process
  `i % num_processes`; every process writes its chunk files, then process 0 merges them into the output. A chunk's
  numbers do not depend on which process ran it, so the file equals a one-process run's on the same hardware (CPU
  BLAS rounding may depend on the thread count: `accelerate launch` gives each CPU process `OMP_NUM_THREADS=1`), and
  the run resumes under any process count. With no GPU, `accelerate launch --multi_gpu --num_processes N` starts N
  CPU processes in a gloo group (`accelerate_state`).
"""

import csv
import gzip
import hashlib
import json
import math
import os
import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dna import context_bp, is_gzip
from .errors import InputError
from .inference import DEFAULT_BATCH_SIZE
from .variant_scoring import SCORE_NAMES, classify_alleles, default_window_snap, score_variants, variant_window

OUTPUT_COLUMNS = (
    "line",
    "allele",
    "chrom",
    "pos",
    "id",
    "ref",
    "alt",
    "status",
    "reason",
    "contig",
    "window_start",
    "window_end",
    *SCORE_NAMES,
)
"""Columns of the `score-variants` output, in order."""

_INTEGER_COLUMNS = ("line", "allele", "pos", "window_start", "window_end")


class VcfError(InputError):
    """A VCF that cannot be used as a whole; the message names the file and, where there is one, the line."""


@dataclass(frozen=True)
class VcfRecord:
    """One VCF data line: `line` is its 1-based line number in the file; `problem` is set when it is malformed."""

    line: int
    chrom: str
    pos: str
    id: str
    ref: str
    alts: tuple[str, ...]
    problem: str = ""


def _parse_data_line(number: int, text: str) -> VcfRecord:
    fields = text.split("\t")
    chrom, pos, vid, ref, alt = (fields + [""] * 5)[:5]
    problem = ""
    if len(fields) < 8:
        problem = f"line {number}: expected at least 8 tab-separated columns, found {len(fields)}"
    elif not chrom:
        problem = f"line {number}: empty CHROM"
    elif not pos.isdigit() or int(pos) < 1:
        problem = f"line {number}: POS {pos!r} is not a positive integer"
    elif not ref or set(ref.upper()) - set("ACGTN"):
        problem = f"line {number}: REF {ref!r} is not a run of A/C/G/T/N"
    elif not alt or "" in alt.split(","):
        problem = f"line {number}: ALT {alt!r} has an empty allele"
    return VcfRecord(number, chrom, pos, vid, ref, tuple(alt.split(",")) if alt else (), problem)


def read_vcf(path: str | os.PathLike) -> list[VcfRecord]:
    """Reads the data lines of a VCF (plain, gzip or bgzip, detected from the content).

    Raises:
        VcfError: when the file as a whole is not usable (see the module docstring); malformed single lines come back
            as records with `problem` set instead.
    """
    path = os.fspath(path)
    packed = is_gzip(path)
    records, header_seen, any_line, number = [], False, False, 0
    try:
        with (gzip.open if packed else open)(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    if not header_seen:
                        raise VcfError(f"{path}, line {number}: not UTF-8 text; is this a VCF?") from None
                    records.append(VcfRecord(number, "", "", "", "", (), f"line {number}: not UTF-8 text"))
                    continue
                if not text.strip():
                    continue
                any_line = True
                if text.startswith("##") and not header_seen:
                    continue
                if text.startswith("#") and not header_seen:
                    if not text.startswith("#CHROM\tPOS\tID\tREF\tALT"):
                        raise VcfError(
                            f"{path}, line {number}: the header line must start with #CHROM, POS, ID, REF, ALT "
                            f"separated by tabs; found {text[:60]!r}."
                        )
                    header_seen = True
                    continue
                if not header_seen:
                    raise VcfError(f"{path}, line {number}: data before the '#CHROM' header line; is this a VCF?")
                if text.startswith("#"):
                    records.append(VcfRecord(number, "", "", "", "", (), f"line {number}: header line among the data"))
                    continue
                records.append(_parse_data_line(number, text))
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        kind = "gzip" if packed else "text"
        raise VcfError(f"{path}: cannot be read as {kind} after line {number}: {error}") from error
    if not any_line:
        raise VcfError(f"{path} is empty: a VCF needs at least the '#CHROM' header line.")
    if not header_seen:
        raise VcfError(f"{path}: no '#CHROM' header line; is this a VCF?")
    if records and all(record.problem for record in records):
        raise VcfError(
            f"{path}: none of its {len(records)} data lines is a valid VCF record "
            f"(first problem: {records[0].problem})."
        )
    return records


class ReferenceGenome:
    """Random access to an indexed FASTA (plain or bgzip) through pysam, or pyfaidx when pysam is not installed.

    A missing `.fai` (and `.gzi`) index is built next to the file when the folder is writable.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise InputError(f"FASTA {self.path} does not exist.")
        try:
            import pysam
        except ImportError:
            pysam = None
        try:
            if pysam is not None:
                self._fasta = pysam.FastaFile(self.path)
                self.lengths = dict(zip(self._fasta.references, self._fasta.lengths))
                self._fetch = lambda contig, start, end: self._fasta.fetch(contig, start, end)
            else:
                import pyfaidx

                self._fasta = pyfaidx.Fasta(self.path, as_raw=True, sequence_always_upper=True)
                self.lengths = {name: len(record) for name, record in self._fasta.items()}
                self._fetch = lambda contig, start, end: self._fasta[contig][start:end]
        except ImportError as error:
            raise ImportError(
                "Reading a FASTA needs pysam or pyfaidx: pip install 'nucleotide-transformer-hf[genomics]'."
            ) from error
        except Exception as error:  # pysam raises OSError/ValueError, pyfaidx its own classes
            raise InputError(
                f"Cannot open FASTA {self.path}: {error}. It must be plain or bgzip-compressed (not plain gzip) and "
                "indexed (`samtools faidx`), or sit in a writable folder so the index can be built."
            ) from error

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Bases `[start, end)` (0-based) of `contig`, upper case."""
        return self._fetch(contig, start, end).upper()


def reconcile_contigs(vcf_contigs: Sequence[str], fasta_contigs: Sequence[str]) -> dict[str, str | None]:
    """Maps each VCF contig name to the FASTA's: as written, else with `chr` added or removed (`MT` ↔ `chrM`)."""
    fasta = set(fasta_contigs)
    mapping: dict[str, str | None] = {}
    for name in vcf_contigs:
        bare = name[3:] if name.lower().startswith("chr") else name
        candidates = [name, bare, "chr" + bare]
        if bare.upper() in ("M", "MT"):
            candidates += ["chrM", "MT", "M", "chrMT"]
        mapping[name] = next((candidate for candidate in candidates if candidate in fasta), None)
    return mapping


@dataclass
class VariantRow:
    """One output row before scoring: an allele of a record, its outcome so far and, if scorable, its window."""

    line: int
    allele: int
    chrom: str
    pos: str
    id: str
    ref: str
    alt: str
    status: str = "scored"
    reason: str = ""
    contig: str = ""
    window: tuple[int, int] | None = None  # 0-based [start, end) on the contig
    offset: int = 0
    ref_base: str = ""
    alt_base: str = ""


def plan_vcf(
    records: Sequence[VcfRecord], genome: ReferenceGenome, window_bp: int, window_snap: int
) -> list[VariantRow]:
    """Splits records into allele rows, checks contigs and REF against the FASTA, and gives each SNV its window."""
    good = [record for record in records if not record.problem]
    mapping = reconcile_contigs(sorted({record.chrom for record in good}), list(genome.lengths))
    if good and not any(mapping.values()):
        raise VcfError(
            f"None of the VCF's contigs ({', '.join(sorted(mapping)[:5])}{', ...' if len(mapping) > 5 else ''}) is "
            f"in the FASTA ({', '.join(list(genome.lengths)[:5])}{', ...' if len(genome.lengths) > 5 else ''}), "
            "even with 'chr' added or removed: are they the same assembly?"
        )
    rows = []
    for record in records:
        if record.problem:
            rows.append(
                VariantRow(
                    record.line,
                    0,
                    record.chrom,
                    record.pos,
                    record.id,
                    record.ref,
                    ",".join(record.alts),
                    status="skipped",
                    reason=f"malformed: {record.problem}",
                )
            )
            continue
        contig = mapping[record.chrom]
        status, reason = "scored", ""
        if contig is None:
            status, reason = "skipped", f"contig: {record.chrom!r} is not in the FASTA (nor with 'chr' added/removed)"
        else:
            start, length = int(record.pos) - 1, genome.lengths[contig]
            if start + len(record.ref) > length:
                status, reason = "flagged", f"mismatch: POS {record.pos} is past the end of {contig} ({length} bp)"
            else:
                found = genome.fetch(contig, start, start + len(record.ref))
                if found != record.ref.upper():
                    status = "flagged"
                    reason = f"mismatch: REF {record.ref!r} but the FASTA has {found!r} at {contig}:{record.pos}"
        for allele, alt in enumerate(record.alts, start=1):
            row = VariantRow(
                record.line,
                allele,
                record.chrom,
                record.pos,
                record.id,
                record.ref,
                alt,
                status=status,
                reason=reason,
                contig=contig or "",
            )
            if status == "scored":
                snv = classify_alleles(record.ref, alt)
                if isinstance(snv, str):
                    row.status, row.reason = "skipped", snv
                else:
                    shift, row.ref_base, row.alt_base = snv
                    position = int(record.pos) - 1 + shift
                    row.window = variant_window(genome.lengths[contig], position, window_bp, window_snap)
                    row.offset = position - row.window[0]
            rows.append(row)
    return rows


def make_chunks(rows: Sequence[VariantRow], chunk_size: int) -> list[list[int]]:
    """Row indexes of the scorable rows, grouped by window (in order of first appearance) and packed into chunks of
    at least `chunk_size` rows (a window is never split across chunks)."""
    by_window: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        if row.window is not None:
            by_window.setdefault((row.contig, *row.window), []).append(index)
    chunks, current = [], []
    for members in by_window.values():
        current += members
        if len(current) >= chunk_size:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def format_score(value: Any) -> str:
    """A table cell: empty for None/NaN, `repr` for floats (round-trips exactly), `str` otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _row_cells(row: VariantRow, result: dict[str, Any] | None = None) -> list[str]:
    status, reason = (result["status"], result["reason"]) if result else (row.status, row.reason)
    start = end = None
    if result and result.get("window_start") is not None:
        start, end = row.window[0] + result["window_start"] + 1, row.window[0] + result["window_end"]
    scores = [result.get(name) if result else None for name in SCORE_NAMES]
    cells = [
        row.line,
        row.allele,
        row.chrom,
        row.pos,
        row.id,
        row.ref,
        row.alt,
        status,
        reason,
        row.contig,
        start,
        end,
        *scores,
    ]
    return [format_score(cell) for cell in cells]


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_table(rows: Sequence[Sequence[str]], out: str | os.PathLike) -> None:
    """Writes output rows (strings, columns `OUTPUT_COLUMNS`) to `.tsv` or `.parquet`, atomically."""
    out = Path(out)
    if out.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as error:
            raise ImportError(f"Writing {out} needs pyarrow (pip install pyarrow); or give a .tsv path.") from error

        def convert(name: str, values: list[str]):
            if name in _INTEGER_COLUMNS:
                return pa.array([int(v) if v.lstrip("-").isdigit() else None for v in values], pa.int64())
            if name in SCORE_NAMES:
                return pa.array([float(v) if v else None for v in values], pa.float64())
            return pa.array(values, pa.string())

        columns = list(zip(*rows)) if rows else [[] for _ in OUTPUT_COLUMNS]
        table = pa.table({name: convert(name, list(values)) for name, values in zip(OUTPUT_COLUMNS, columns)})
        _write_atomically(out, lambda temporary: pq.write_table(table, temporary))
        return
    if out.suffix not in (".tsv", ".txt"):
        raise InputError(f"--out must end in .tsv or .parquet, got {out.name!r}.")

    def write_tsv(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write("\t".join(OUTPUT_COLUMNS) + "\n")
            for cells in rows:
                handle.write("\t".join(cells) + "\n")

    _write_atomically(out, write_tsv)


def read_table(path: str | os.PathLike) -> list[dict[str, str]]:
    """Reads a `score-variants` TSV output back as dicts of strings (for checks and notebooks)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def run_fingerprint(vcf: str | os.PathLike, genome: ReferenceGenome, model, options: dict[str, Any]) -> str:
    """Hash of what decides the numbers: VCF bytes, FASTA contigs, model path/config/weight files, options."""
    digest = hashlib.sha256()
    with open(vcf, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(genome.lengths, sort_keys=True).encode())
    digest.update(model.config.to_json_string().encode())
    source = str(getattr(model, "name_or_path", "") or "")
    digest.update(source.encode())
    if os.path.isdir(source):
        for name in sorted(os.listdir(source)):
            stat = os.stat(os.path.join(source, name))
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()


def _read_chunk(path: Path, expected: list[int]) -> dict[int, list[str]]:
    rows = {}
    with open(path, encoding="utf-8") as handle:
        for text in handle:
            index, *cells = text.rstrip("\n").split("\t")
            rows[int(index)] = cells
    if sorted(rows) != sorted(expected) or any(len(cells) != len(OUTPUT_COLUMNS) for cells in rows.values()):
        raise InputError(f"Checkpoint {path} does not hold the rows it should; delete {path.parent} or pass --restart.")
    return rows


def accelerate_state():
    """`accelerate.PartialState` of this process. Several processes with no GPU (`accelerate launch --multi_gpu
    --num_processes N` on a CPU machine, or `ACCELERATE_USE_CPU=1`) join a gloo process group on the CPU."""
    import torch
    from accelerate import PartialState

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or (
        launched and not torch.cuda.is_available() and not (hasattr(torch, "xpu") and torch.xpu.is_available())
    )
    return PartialState(cpu=use_cpu)


def score_vcf(
    model,
    tokenizer,
    vcf: str | os.PathLike,
    fasta: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layer: int = -1,
    pooling: str = "mean",
    both_strands: bool = False,
    window_bp: int | None = None,
    window_snap: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int = 256,
    share_windows: bool = True,
    restart: bool = False,
    progress: bool = True,
) -> dict[str, int]:
    """Scores every allele of a VCF against an indexed FASTA and writes `out` (rules in the module docstring).

    Works in one process or under `accelerate launch` (each process scores its share of the chunks; process 0
    merges). Returns counts: `records` (data lines), `rows`, `scored`, `flagged`, `skipped` (from process 0; 0
    elsewhere), `chunks`, `chunks_resumed` (found done from an interrupted run), and `chunks_computed` and
    `forward_passes` (by this process).
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}.")
    state = accelerate_state()
    out = Path(out)
    if out.suffix not in (".tsv", ".txt", ".parquet"):
        raise InputError(f"--out must end in .tsv or .parquet, got {out.name!r}.")
    window_bp = window_bp or context_bp(model.config, tokenizer)
    window_snap = window_snap or default_window_snap(window_bp)
    records = read_vcf(vcf)
    genome = ReferenceGenome(fasta)
    rows = plan_vcf(records, genome, window_bp, window_snap)
    chunks = make_chunks(rows, chunk_size)

    options = {
        "layer": layer,
        "pooling": pooling,
        "both_strands": both_strands,
        "window_bp": window_bp,
        "window_snap": window_snap,
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "share_windows": share_windows,
        "device": model.device.type,
        "dtype": str(model.dtype),
    }
    fingerprint = run_fingerprint(vcf, genome, model, options)
    partial = out.with_name(out.name + ".partial")
    meta = partial / "meta.json"
    if state.is_main_process:
        if partial.exists() and (restart or not meta.exists()):
            shutil.rmtree(partial)
        if meta.exists() and json.loads(meta.read_text()).get("fingerprint") != fingerprint:
            raise InputError(
                f"{partial} holds a checkpoint of a run with other inputs or options; rerun with the same ones to "
                "resume, or pass --restart to discard it."
            )
        partial.mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            content = json.dumps({"fingerprint": fingerprint, "chunks": len(chunks)})
            _write_atomically(meta, lambda t: Path(t).write_text(content))
    state.wait_for_everyone()

    def chunk_path(k: int) -> Path:
        return partial / f"chunk-{k:06d}.tsv"

    done = {k for k in range(len(chunks)) if chunk_path(k).exists()}
    mine = [k for k in range(len(chunks)) if k % state.num_processes == state.process_index and k not in done]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=sum(len(chunks[k]) for k in mine),
            unit="variant",
            position=state.process_index,
            desc=f"scoring (process {state.process_index})" if state.num_processes > 1 else "scoring",
        )
    fetched: dict[tuple, str] = {}
    stats = {"forward_passes": 0}
    for k in mine:
        members = chunks[k]
        items = []
        for index in members:
            row = rows[index]
            key = (row.contig, *row.window)
            if key not in fetched:
                fetched.clear()  # windows of a chunk are contiguous in it; keep one chunk's worth
                fetched[key] = genome.fetch(*key)
            items.append({"sequence": fetched[key], "position": row.offset, "ref": row.ref_base, "alt": row.alt_base})
        results = score_variants(
            model,
            tokenizer,
            items,
            layer=layer,
            pooling=pooling,
            both_strands=both_strands,
            window_bp=window_bp,
            window_snap=window_snap,
            batch_size=batch_size,
            share_windows=share_windows,
            stats=stats,
        )
        text = "".join(
            "\t".join([str(index), *_row_cells(rows[index], result)]) + "\n" for index, result in zip(members, results)
        )
        _write_atomically(chunk_path(k), lambda t, text=text: Path(t).write_text(text, encoding="utf-8"))
        if bar is not None:
            bar.update(len(members))
    if bar is not None:
        bar.close()
    state.wait_for_everyone()

    counts = Counter()
    if state.is_main_process:
        cells: dict[int, list[str]] = {}
        for k, members in enumerate(chunks):
            cells.update(_read_chunk(chunk_path(k), members))
        table = [cells[index] if index in cells else _row_cells(row) for index, row in enumerate(rows)]
        write_table(table, out)
        shutil.rmtree(partial)
        status_column, reason_column = OUTPUT_COLUMNS.index("status"), OUTPUT_COLUMNS.index("reason")
        counts.update(row[status_column] for row in table)
        reasons = Counter(row[reason_column].split(":")[0] for row in table if row[status_column] != "scored")
        detail = ", ".join(f"{name} {count}" for name, count in reasons.most_common())
        print(
            f"score-variants: {len(records)} records, {len(table)} alleles: {counts['scored']} scored, "
            f"{counts['flagged']} flagged, {counts['skipped']} skipped{f' ({detail})' if detail else ''}; "
            f"{len(done)} of {len(chunks)} chunks resumed from a checkpoint; wrote {out}",
            flush=True,
        )
    state.wait_for_everyone()
    return {
        "records": len(records),
        "rows": len(rows),
        "scored": counts["scored"],
        "flagged": counts["flagged"],
        "skipped": counts["skipped"],
        "chunks": len(chunks),
        "chunks_resumed": len(done),
        "chunks_computed": len(mine),
        "forward_passes": stats["forward_passes"],
    }


__all__ = [
    "OUTPUT_COLUMNS",
    "ReferenceGenome",
    "VariantRow",
    "VcfError",
    "VcfRecord",
    "accelerate_state",
    "format_score",
    "make_chunks",
    "plan_vcf",
    "read_table",
    "read_vcf",
    "reconcile_contigs",
    "run_fingerprint",
    "score_vcf",
    "write_table",
]
