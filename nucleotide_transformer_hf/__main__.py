"""`python -m nucleotide_transformer_hf <command> ...` runs the `nucleotide-transformer` command (for `accelerate
launch -m nucleotide_transformer_hf score-variants ...`)."""

import sys

from .cli import main

sys.exit(main())
