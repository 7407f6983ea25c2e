"""Small helpers shared by the test modules (plain functions; fixtures live in conftest.py)."""

import numpy as np
import torch


def random_dna(length: int, seed: int) -> str:
    """Uniform random A/C/G/T of `length` bases (seeded)."""
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), length))


def direct_hidden(model, tokenizer, sequence: str, layer: int = -1) -> np.ndarray:
    """Hidden states of one unpadded sequence straight from the model (row 0 is <cls>)."""
    ids = torch.tensor([tokenizer(sequence)["input_ids"]])
    with torch.no_grad():
        out = model.esm(input_ids=ids, output_hidden_states=True)
    return out.hidden_states[layer][0].double().numpy()
