"""Writes the README's performance table from the newest benchmark results JSON (never copied by hand).

    python benchmarks/readme_table.py [--results benchmarks/results/2026-12-02-vm.json] [--check]

The table sits in README.md between the lines `<!-- performance-table:start -->` and `<!-- performance-table:end -->`:
the summary rows of `run.summary_table`, then one line naming the results file, the command and the machine (CPU,
its instruction-set flags, threads, device, the fp32 GEMM yardstick, the import times and, where recorded, the
kernels torch used), and the precision targets' verdicts (`run.precision_targets`) when the record has them. `--check` changes
nothing and exits 1 when the README's table differs from the one the JSON gives.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import summary_table  # noqa: E402

README = HERE.parent / "README.md"
RESULTS = HERE / "results"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"
RUN_COMMAND = "python benchmarks/run.py"


def newest_results(folder: Path = RESULTS) -> Path:
    """The newest record written by `run.py` (other JSON files beside them, such as single-benchmark studies, are
    skipped): the latest `finished` time, or for older records without one, the date of the file name. File times are
    not used: a fresh clone gives every file the same one."""
    records = []
    for path in folder.glob("*.json"):
        record = json.loads(path.read_text())
        if not (isinstance(record.get("machine"), dict) and str(record.get("command", "")).startswith(RUN_COMMAND)):
            continue
        records.append((record.get("finished") or path.stem[:10], path.name, path))
    if not records:
        raise SystemExit(f"no results of benchmarks/run.py in {folder}: run `python benchmarks/run.py --quick` first")
    return max(records)[2]


def table(path: Path) -> str:
    """The Markdown block that goes between the markers."""
    record = json.loads(path.read_text())
    machine = record["machine"]
    relative = path.relative_to(HERE.parent)
    lines = [*summary_table(record), ""]
    details = [
        f"{machine.get('cpu')}",
        f"flags: {machine.get('cpu_flags') or 'not recorded'}",
        f"{machine.get('torch_threads')} threads",
        f"device {machine.get('device')}",
        f"fp32 GEMM {machine.get('gemm_fp32_gflops')} GFLOP/s",
    ]
    if "import_nucleotide_transformer_hf_s" in machine:
        details.append(
            f"import: torch + transformers {machine['import_torch_transformers_s']:.2f} s, "
            f"nucleotide_transformer_hf {machine['import_nucleotide_transformer_hf_s']:.2f} s, "
            f"with its first model class {machine['import_package_and_model_class_s']:.2f} s"
        )
    kernels = machine.get("kernel_info")
    if isinstance(kernels, dict):
        details.append(
            f"torch CPU kernels {kernels.get('torch_cpu_capability')}, int8 engine {kernels.get('int8_engine')}, "
            f"oneDNN {'yes' if kernels.get('onednn_available') else 'no'}"
            f" (bf16 {'native' if kernels.get('onednn_bf16_supported') else 'not native'})"
        )
    lines.append(f"From `{relative}` (`{record['command']}`): " + "; ".join(details) + ".")
    targets = record.get("targets")
    if targets:
        lines += [
            "",
            "Precision targets: " + "; ".join(f"{name}: **{verdict}**" for name, verdict in targets.items()) + ".",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=None, help="results JSON (default: the newest)")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="only check that the README is up to date")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{args.readme}: no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{START}\n{table(args.results or newest_results())}\n{END}{tail}"
    if args.check:
        if updated != text:
            print(f"{args.readme}: the performance table is not the newest results'; run benchmarks/readme_table.py")
            return 1
        return 0
    args.readme.write_text(updated)
    print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
