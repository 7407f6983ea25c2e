"""IA3 and LoRA defaults for `model_type="nucleotide_transformer"` in peft's per-model-type target maps.

Users expect a new architecture's IA3/LoRA targets where peft keeps everyone's: its mappings in
`peft.utils.constants`. `register_peft_defaults()` adds ours there, so `get_peft_model(model,
IA3Config(task_type="SEQ_CLS"))` needs no module lists. `import nucleotide_transformer_hf` arranges for it to run as
soon as peft is imported (or at once when peft already is), so importing our package does not import peft.
"""

MODEL_TYPE = "nucleotide_transformer"  # NucleotideTransformerConfig.model_type, without importing transformers

PEFT_DEFAULT_MAX_LAYERS = 64
"""Deepest model the registered default target lists cover (twice the deepest published NT, 32 layers)."""


def ia3_modules_for(num_layers: int) -> tuple[list[str], list[str]]:
    """(`target_modules`, `feedforward_modules`) of our IA3 default for a model with `num_layers` blocks."""
    # The FFN's second projection `encoder.layer.N.output.dense` shares its suffix `output.dense` with the attention
    # output projection `encoder.layer.N.attention.output.dense`. peft matches list entries as name suffixes (after a
    # dot) and turns a model-type default into a set, so no regex can be registered; one suffix per layer is exact.
    ffn = [f"layer.{i}.output.dense" for i in range(num_layers)]
    return ["attention.self.key", "attention.self.value", *ffn], ffn


IA3_TARGET_MODULES, IA3_FEEDFORWARD_MODULES = ia3_modules_for(PEFT_DEFAULT_MAX_LAYERS)
"""IA3 targets: keys and values (output scaled: l_k, l_v) and the FFN's second projection (input scaled: l_ff); the
feed-forward modules are the FFN entries.

With `feedforward_modules`, peft scales the *input* of a layer: on `output.dense` that is the FFN intermediate
activation, GELU(x W1) in v1 and SiLU(x W_gate) * (x W_value) in v2 (width `intermediate_size`, after the gate product).
That is where the paper's l_ff sits for a GELU FFN; for SwiGLU the placement after the gate product is our choice,
the paper's detail is UNVERIFIED (docs/unverified.md#swiglu-ia3-placement)."""

LORA_TARGET_MODULES = ["attention.self.query", "attention.self.value"]
"""LoRA targets: the query and value projections, as peft's defaults for BERT/ESM-style encoders."""


def register_peft_defaults() -> None:
    """Adds `nucleotide_transformer` to peft's default IA3 (targets, feed-forward modules) and LoRA target maps.

    Afterwards `get_peft_model(model, IA3Config(task_type="SEQ_CLS"))` (or `"TOKEN_CLS"`) needs no module lists, and
    `LoraConfig(task_type=...)` neither; peft itself keeps the `classifier` head trainable (`modules_to_save`) for
    these task types. Idempotent; an entry that peft (or the user) already has for our model type is left alone.
    The FFN entries name layers 0..`PEFT_DEFAULT_MAX_LAYERS`-1; for a deeper model pass the lists of
    `ia3_modules_for(num_layers)` (`apply_method` does).
    """
    import peft.tuners.ia3.model as ia3_model
    import peft.utils.constants as constants
    from peft.tuners.lora.model import LoraModel

    model_type = MODEL_TYPE
    # peft's tuners read the maps through their own imported names (`ia3.model`) or a class attribute (LoRA). Today
    # these are the very dicts of `peft.utils.constants`; registering in each keeps working if one becomes a copy.
    registrations = (
        (constants.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING, IA3_TARGET_MODULES),
        (ia3_model.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING, IA3_TARGET_MODULES),
        (constants.TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING, IA3_FEEDFORWARD_MODULES),
        (ia3_model.TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING, IA3_FEEDFORWARD_MODULES),
        (constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING, LORA_TARGET_MODULES),
        (
            getattr(LoraModel, "target_module_mapping", constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING),
            LORA_TARGET_MODULES,
        ),
    )
    for mapping, modules in registrations:
        mapping.setdefault(model_type, list(modules))


__all__ = [
    "IA3_FEEDFORWARD_MODULES",
    "IA3_TARGET_MODULES",
    "LORA_TARGET_MODULES",
    "PEFT_DEFAULT_MAX_LAYERS",
    "ia3_modules_for",
    "register_peft_defaults",
]
