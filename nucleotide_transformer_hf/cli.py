"""The `nucleotide-transformer` command. Each subcommand is a thin shell over library functions."""

import argparse
import sys
from collections.abc import Callable, Sequence

# name -> (help, function adding the arguments, function running the command)
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def subcommand(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Registers a subcommand; later modules add theirs the same way."""

    def register(run: Callable[[argparse.Namespace], int]):
        SUBCOMMANDS[name] = (help, add_arguments, run)
        return run

    return register


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@subcommand("presets", "List the built-in architectures and published model shapes.", _no_arguments)
def _presets(args: argparse.Namespace) -> int:
    from .configuration_nucleotide_transformer import PUBLISHED_MODELS, NucleotideTransformerConfig

    print(f"{'name':48} {'version':7} {'hidden':>6} {'layers':>6} {'heads':>5} {'ffn':>6} {'context':>7}")
    for name, (version, _) in PUBLISHED_MODELS.items():
        c = NucleotideTransformerConfig.from_preset(name)
        print(
            f"{name:48} {version:7} {c.hidden_size:>6} {c.num_hidden_layers:>6} {c.num_attention_heads:>5} "
            f"{c.intermediate_size:>6} {c.context_length:>7}"
        )
    return 0


def _register_commands() -> None:
    # Modules that add subcommands with @subcommand; imported here so that `import nucleotide_transformer_hf`
    # stays light.
    from . import conversion, hub, task_benchmark, variants  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    _register_commands()
    parser = argparse.ArgumentParser(prog="nucleotide-transformer", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    # Run through the package module, so that subcommands registered by other modules land in the same registry.
    from nucleotide_transformer_hf.cli import main as package_main

    sys.exit(package_main())
