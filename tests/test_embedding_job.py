"""`embed_to_folder` / `nucleotide-transformer embed`: the vectors are the engine's, the readers cover the inputs as
documented, the output folder is atomic, resumable and the same under two processes, and bad input is refused."""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from nucleotide_transformer_hf import (
    cli,
    embedding_job,
)
from nucleotide_transformer_hf.dna import read_fasta, reverse_complement
from nucleotide_transformer_hf.embedding_job import (
    BedInput,
    DatasetInput,
    FastaInput,
    TableInput,
    embed_to_folder,
    read_manifest,
    read_regions,
)
from nucleotide_transformer_hf.errors import InputError
from nucleotide_transformer_hf.inference import embed_sequences

CONTEXT = 64  # tokens incl. <cls>, as conftest.py's tiny model

ECOLI = Path(__file__).resolve().parent.parent / "data" / "genomes" / "ecoli_K12_MG1655_NC_000913.3_1-120000.fa.gz"


@pytest.fixture(scope="module")
def genome_text():
    return next(read_fasta(ECOLI)).sequence.upper()


@pytest.fixture(scope="module")
def model_dir(tiny_saved):
    return tiny_saved  # conftest.py's tiny model, saved


@pytest.fixture(scope="module")
def loaded(model_dir):
    from nucleotide_transformer_hf.loading import load_model_and_tokenizer

    return load_model_and_tokenizer(model_dir, progress=False)


@pytest.fixture(scope="module")
def small_fasta(tmp_path_factory, genome_text):
    """Five records of 90 to 1,500 bp (the longest need several windows of the tiny model), one with an N, and an
    index, so that the same file serves whole records, tiles and BED regions."""
    import pysam

    folder = tmp_path_factory.mktemp("fasta")
    lengths = [90, 377, 1500, 640, 1234]
    path = folder / "small.fa"
    with open(path, "w") as handle:
        offset = 0
        for k, length in enumerate(lengths):
            sequence = genome_text[offset : offset + length]
            if k == 3:
                sequence = sequence[:100] + "N" + sequence[101:]
            handle.write(
                f">rec{k} test record\n" + "\n".join(sequence[i : i + 60] for i in range(0, length, 60)) + "\n"
            )
            offset += length + 1000
    pysam.faidx(str(path))
    return path


def table(out: Path) -> pa.Table:
    return pq.read_table(out / "data")


def vectors(out: Path, column: str = "embedding") -> list[np.ndarray]:
    return [np.asarray(row, dtype=np.float32) for row in table(out).column(column).to_pylist()]


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def folder_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# ---- vectors and readers ----------------------------------------------------------------------------------------


def test_whole_records_equal_embed_sequences_and_the_pipeline(loaded, small_fasta, tmp_path):
    from transformers import pipeline

    model, tokenizer = loaded
    out = tmp_path / "emb"
    counts = embed_to_folder(model, tokenizer, FastaInput(small_fasta), out, shard_size=2, progress=False)
    records = list(read_fasta(small_fasta))
    assert counts["inputs"] == 5 and counts["shards"] == 3 and counts["bases"] == sum(len(r.sequence) for r in records)
    rows = table(out).to_pydict()
    assert rows["id"] == [r.name for r in records] and rows["index"] == list(range(5))
    assert rows["start"] == [0] * 5 and rows["end"] == [len(r.sequence) for r in records]
    expected = embed_sequences(model, tokenizer, [r.sequence for r in records])
    for got, want in zip(vectors(out), expected):
        close(got, want)
    embed = pipeline("dna-embedding", model=model, tokenizer=tokenizer, device="cpu")
    close(vectors(out)[2], embed(records[2].sequence))
    manifest = read_manifest(out)
    assert [s["rows"] for s in manifest["shards"]] == [2, 2, 1]
    for shard in manifest["shards"]:
        import hashlib

        assert hashlib.sha256((out / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    assert manifest["model"]["path"] == str(model.name_or_path) and manifest["options"]["pooling"] == "mean"
    assert sorted(p.name for p in out.iterdir()) == ["data", "manifest.json"]


def test_tiles_cover_each_record_the_last_flush_with_its_end(small_fasta):
    records = {r.name: r.sequence for r in read_fasta(small_fasta)}
    tiles = list(read_regions(FastaInput(small_fasta, window=500, stride=400)))
    for name, sequence in records.items():
        mine = [t for t in tiles if t.contig == name]
        starts = [t.start for t in mine]
        if len(sequence) <= 500:
            assert [(t.start, t.end) for t in mine] == [(0, len(sequence))]  # one tile, the whole record
        else:
            grid = list(range(0, len(sequence) - 500 + 1, 400))
            assert starts[: len(grid)] == grid
            assert mine[-1].end == len(sequence) and all(t.end - t.start == 500 for t in mine)
        covered = np.zeros(len(sequence), bool)
        for t in mine:
            assert t.sequence == sequence[t.start : t.end] and t.id == f"{name}:{t.start + 1}-{t.end}"
            covered[t.start : t.end] = True
        assert covered.all()
    assert [(t.start, t.end) for t in tiles if t.contig == "rec4"] == [(0, 500), (400, 900), (734, 1234)]


def test_bed_regions_honour_strand_and_flank(loaded, small_fasta, tmp_path):
    import pysam

    model, tokenizer = loaded
    bed = tmp_path / "regions.bed"
    bed.write_text(
        "track name=test\n# a comment\n"
        "rec2\t100\t700\tplus\t0\t+\n"
        "rec2\t100\t700\tminus\t0\t-\n"
        "rec4\t0\t50\n"
        "rec1\t300\t377\t.\t0\t-\n"
    )
    genome = pysam.FastaFile(str(small_fasta))
    out = tmp_path / "emb"
    embed_to_folder(model, tokenizer, BedInput(bed, small_fasta, flank=10), out, progress=False)
    rows = table(out).to_pydict()
    assert rows["id"] == ["plus", "minus", "rec4:1-50", "rec1:301-377(-)"]
    assert list(zip(rows["contig"], rows["start"], rows["end"], rows["strand"])) == [
        ("rec2", 90, 710, "+"),
        ("rec2", 90, 710, "-"),
        ("rec4", 0, 60, "+"),  # the flank is clipped at the contig's start ...
        ("rec1", 290, 377, "-"),  # ... and at its end
    ]
    forward = genome.fetch("rec2", 90, 710).upper()
    got = vectors(out)
    expected = embed_sequences(
        model, tokenizer, [forward, reverse_complement(forward), reverse_complement(genome.fetch("rec1", 290, 377))]
    )
    close(got[0], expected[0])
    close(got[1], expected[1])
    close(got[3], expected[2])
    assert not np.allclose(got[0], got[1])


def test_per_base_output_and_both_strands(loaded, small_fasta, tmp_path):
    model, tokenizer = loaded
    records = [r.sequence for r in read_fasta(small_fasta)]
    out = tmp_path / "nuc"
    embed_to_folder(
        model, tokenizer, FastaInput(small_fasta), out, pooling="nucleotide", layers=[1, -1], progress=False
    )
    expected = embed_sequences(model, tokenizer, records, pooling="nucleotide", layers=[1, -1])
    assert table(out).column_names[-2:] == ["embedding_layer1", "embedding_layer2"]
    for k, name in enumerate(["embedding_layer1", "embedding_layer2"]):
        for got, want in zip(vectors(out, name), expected):
            assert got.shape == (want.shape[1], 32)
            close(got, want[k])
    both = tmp_path / "both"
    embed_to_folder(
        model, tokenizer, FastaInput(small_fasta), both, pooling="nucleotide", both_strands=True, progress=False
    )
    reverse = embed_sequences(model, tokenizer, [reverse_complement(s) for s in records], pooling="nucleotide")
    forward = [e[1] for e in expected]
    for got, f, r in zip(vectors(both), forward, reverse):
        close(got, (f + r[::-1]) / 2)
    pooled = tmp_path / "pooled"
    embed_to_folder(model, tokenizer, FastaInput(small_fasta), pooled, both_strands=True, progress=False)
    f, r = (
        embed_sequences(model, tokenizer, records[:1]),
        embed_sequences(model, tokenizer, [reverse_complement(records[0])]),
    )
    close(vectors(pooled)[0], (f[0] + r[0]) / 2)
    with pytest.raises(InputError, match="token"):
        embed_to_folder(model, tokenizer, FastaInput(small_fasta), tmp_path / "x", pooling="token", both_strands=True)


def test_tables_parquet_and_datasets_give_the_same_rows(loaded, genome_text, tmp_path):
    import datasets

    model, tokenizer = loaded
    sequences = [genome_text[i * 700 : i * 700 + 60 + 37 * i] for i in range(7)]
    ids = [f"s{i}" for i in range(7)]
    csv_path = tmp_path / "seqs.csv.gz"
    with gzip.open(csv_path, "wt") as handle:
        handle.write("id,label,sequence\n" + "".join(f"{i},1,{s}\n" for i, s in zip(ids, sequences)))
    parquet = tmp_path / "seqs.parquet"
    pq.write_table(pa.table({"name": ids, "dna": sequences}), parquet)
    saved = tmp_path / "dataset"
    datasets.Dataset.from_dict({"dna": sequences}).save_to_disk(str(saved))
    expected = embed_sequences(model, tokenizer, sequences)
    runs = {
        "csv": TableInput(csv_path),
        "parquet": TableInput(parquet, column="dna", id_column="name"),
        "dataset": DatasetInput(saved, column="dna"),
    }
    for name, source in runs.items():
        out = tmp_path / f"out-{name}"
        embed_to_folder(model, tokenizer, source, out, shard_size=3, progress=False)
        rows = table(out).to_pydict()
        assert rows["id"] == (ids if name != "dataset" else [str(i) for i in range(1, 8)]), name
        assert rows["contig"] == [None] * 7 and rows["length"] == [len(s) for s in sequences]
        for got, want in zip(vectors(out), expected):
            close(got, want)
    loaded_back = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out-csv"), split="train")
    assert loaded_back.num_rows == 7 and len(loaded_back[0]["embedding"]) == 32


# ---- atomic output, resume, processes ---------------------------------------------------------------------------


def test_an_interrupted_run_resumes_to_the_identical_folder(loaded, small_fasta, tmp_path, monkeypatch):
    model, tokenizer = loaded
    source = FastaInput(small_fasta, window=200, stride=150)
    reference = tmp_path / "reference"
    embed_to_folder(model, tokenizer, source, reference, shard_size=4, pooling="token", progress=False)

    out = tmp_path / "out"
    real = embedding_job._write_shard
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("interrupted after the first shard")
        return real(*args, **kwargs)

    monkeypatch.setattr(embedding_job, "_write_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        embed_to_folder(model, tokenizer, source, out, shard_size=4, pooling="token", progress=False)
    partial = tmp_path / "out.partial"
    assert not out.exists()
    assert sorted(p.name for p in (partial / "data").iterdir()) == [embedding_job.shard_name(0, 7)]  # no temp file
    monkeypatch.setattr(embedding_job, "_write_shard", real)

    with pytest.raises(InputError, match="other inputs or options.*--restart"):
        embed_to_folder(model, tokenizer, source, out, shard_size=5, pooling="token", progress=False)
    counts = embed_to_folder(model, tokenizer, source, out, shard_size=4, pooling="token", progress=False)
    assert counts["shards_resumed"] == 1 and counts["shards_computed"] == 6
    assert folder_bytes(out) == folder_bytes(reference) and not partial.exists()
    again = embed_to_folder(model, tokenizer, source, out, shard_size=4, pooling="token", progress=False)
    assert again["shards_computed"] == 0  # already complete: nothing to do

    with pytest.raises(InputError, match="--restart"):
        embed_to_folder(model, tokenizer, source, out, shard_size=4, progress=False)
    embed_to_folder(model, tokenizer, source, out, shard_size=4, restart=True, progress=False)
    assert read_manifest(out)["options"]["pooling"] == "mean"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with pytest.raises(InputError, match="not an embed output"):
        embed_to_folder(model, tokenizer, source, foreign, restart=True, progress=False)


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(embedding_job.__file__).parent.parent), env.get("PYTHONPATH", "")])
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_under_accelerate_launch_write_the_one_process_folder(model_dir, small_fasta, tmp_path):
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher, "accelerate's launcher is not installed"
    run = ["--fasta", str(small_fasta), "--window", "300", "--stride", "250", "--shard-size", "3", "--no-progress"]
    reference = tmp_path / "one"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each process under accelerate launch (OMP_NUM_THREADS=1)
    try:
        assert cli.main(["embed", "--model", str(model_dir), "--out", str(reference), *run]) == 0
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "two"
    command = [
        launcher,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "nucleotide_transformer_hf",
        "embed",
        "--model",
        str(model_dir),
        "--out",
        str(out),
        *run,
    ]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("embed:") == 1  # one summary, from process 0
    assert read_manifest(out)["counts"]["shards"] > 2
    assert folder_bytes(out) == folder_bytes(reference)


def test_a_killed_run_leaves_nothing_final_and_resumes_to_the_identical_folder(model_dir, tmp_path):
    """SIGKILL in the middle of a real `embed` process (not an exception it could clean up after), then the same
    command again: the folder equals an uninterrupted run's byte for byte, and nothing partial sits under its name."""
    run = ["--fasta", str(ECOLI), "--window", "600", "--stride", "300", "--shard-size", "4", "--no-progress"]
    command = [sys.executable, "-m", "nucleotide_transformer_hf", "embed", "--model", str(model_dir), *run]
    reference = tmp_path / "reference"
    done = subprocess.run([*command, "--out", str(reference)], env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    total = read_manifest(reference)["counts"]["shards"]

    out, partial = tmp_path / "out", tmp_path / "out.partial"
    process = subprocess.Popen([*command, "--out", str(out)], env=subprocess_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(partial.glob("data/*.parquet")):  # until the first shard is written
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "no shard after 240 s"
        time.sleep(0.005)  # polling another process's progress; no test logic waits on time
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    finished = len(list((partial / "data").glob("*.parquet")))
    assert 0 < finished < total, (finished, total)  # killed mid-run
    assert not out.exists()  # nothing under the final name

    resumed = subprocess.run([*command, "--out", str(out)], env=subprocess_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert folder_bytes(out) == folder_bytes(reference) and not partial.exists()


# ---- bad input ------------------------------------------------------------------------------------------------


def bad_inputs(folder: Path, fasta: Path) -> dict[str, tuple[object, str]]:
    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text)
        return path

    empty_fasta = write("empty.fa", "")
    no_sequence = write("nosequence.fa", ">a\nACGT\n>b\n>c\nACGT\n")
    duplicate = write("dup.fa", ">a\nACGTACGT\n>b\nACGT\n>a\nGGGG\n")
    bad_char = write("bad.fa", ">a\nACGTACGT\n>b\nACGUACGT\n")
    past_end = write("past.bed", "rec0\t0\t50\nrec0\t10\t91\n")
    unknown = write("unknown.bed", "rec0\t0\t50\n\nchrX\t0\t50\n")
    strand = write("strand.bed", "rec0\t0\t50\tx\t0\t*\n")
    backwards = write("backwards.bed", "rec0\t50\t10\n")
    columns = write("columns.csv", "id,seq\na,ACGT\n")
    dup_table = write("dup.tsv", "id\tsequence\nx\tACGT\ny\tACGT\nx\tAAAA\n")
    empty_cell = write("cell.csv", "id,sequence\nx,ACGT\ny,\n")
    header_only = write("header.csv", "id,sequence\n")
    return {
        "empty fasta": (FastaInput(empty_fasta), f"{empty_fasta}: no inputs"),
        "record without sequence": (FastaInput(no_sequence), f"{no_sequence}, record 2 ('b'): the record has no"),
        "duplicate record": (FastaInput(duplicate), f"{duplicate}, record 3 ('a'): duplicate id 'a' (first at"),
        "bad character": (FastaInput(bad_char), f"{bad_char}, record 2 ('b') (id 'b'): Invalid character 'U'"),
        "bed past end": (BedInput(past_end, fasta), f"{past_end}, line 2: end 91 is past the end of rec0 (90 bp)"),
        "bed unknown contig": (BedInput(unknown, fasta), f"{unknown}, line 3: contig 'chrX' is not in {fasta}"),
        "bed strand": (BedInput(strand, fasta), f"{strand}, line 1: strand '*'"),
        "bed backwards": (BedInput(backwards, fasta), f"{backwards}, line 1: end 10 is not after start 50"),
        "missing column": (TableInput(columns), f"{columns}, line 1: no column 'sequence' (columns: id, seq)"),
        "duplicate row id": (
            TableInput(dup_table),
            f"{dup_table}, line 4: duplicate id 'x' (first at {dup_table}, line 2)",
        ),
        "empty cell": (TableInput(empty_cell), f"{empty_cell}, line 3: column 'sequence' is empty"),
        "header only": (TableInput(header_only), f"{header_only}: no inputs"),
    }


CASES = [
    "empty fasta",
    "record without sequence",
    "duplicate record",
    "bad character",
    "bed past end",
    "bed unknown contig",
    "bed strand",
    "bed backwards",
    "missing column",
    "duplicate row id",
    "empty cell",
    "header only",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_naming_file_and_line_and_writes_nothing(loaded, small_fasta, tmp_path, case):
    model, tokenizer = loaded
    source, message = bad_inputs(tmp_path, small_fasta)[case]
    out = tmp_path / "emb"
    with pytest.raises(InputError) as error:
        embed_to_folder(model, tokenizer, source, out, progress=False)
    assert message in str(error.value), str(error.value)
    assert not out.exists() and not (tmp_path / "emb.partial").exists()


def test_cls_pooling_of_a_long_input_names_it(loaded, small_fasta, tmp_path):
    model, tokenizer = loaded
    with pytest.raises(
        InputError, match=r"record 2 \('rec1'\) \(id 'rec1'\): longer than one window of 63 tokens; 'cls' pooling"
    ):
        embed_to_folder(model, tokenizer, FastaInput(small_fasta), tmp_path / "cls", pooling="cls", progress=False)
    assert not (tmp_path / "cls").exists() and not (tmp_path / "cls.partial").exists()


def test_manifest_records_every_option(loaded, small_fasta, tmp_path):
    model, tokenizer = loaded
    out = tmp_path / "emb"
    embed_to_folder(
        model, tokenizer, FastaInput(small_fasta, window=400), out, layers=[0, 2], shard_size=2, progress=False
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"] == {"kind": "FastaInput", "fasta": str(small_fasta), "window": 400, "stride": None}
    assert manifest["options"] == {
        "pooling": "mean",
        "layers": [0, 2],
        "both_strands": False,
        "batch_size": 8,
        "shard_size": 2,
        "window_overlap": None,
    }
    assert manifest["columns"]["embeddings"] == ["embedding_layer0", "embedding_layer2"]
    assert (
        manifest["counts"]["inputs"]
        == sum(r.num_rows for r in [table(out)])
        == len(list(read_regions(FastaInput(small_fasta, window=400))))
    )
    assert sum(s["rows"] for s in manifest["shards"]) == manifest["counts"]["inputs"]
