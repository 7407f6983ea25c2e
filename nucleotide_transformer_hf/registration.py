"""Registering our classes with transformers and peft at the moment each registry is first imported.

`import nucleotide_transformer_hf` must make `AutoConfig`, `AutoTokenizer`, `AutoModel…`, `pipeline("dna-embedding")`
and a plain `IA3Config(task_type="SEQ_CLS")` work, but without paying for what the user does not touch: importing
transformers' model machinery, its pipelines or peft costs seconds (and `Trainer`, `datasets`, `evaluate` more). So
each registration runs right after the module holding its registry has been imported — or at once, if it already
is:

| registry module (when first imported)        | what is registered                                             |
|----------------------------------------------|----------------------------------------------------------------|
| `transformers.models.auto.configuration_auto` | `AutoConfig`: `model_type="nucleotide_transformer"`            |
| `transformers.models.auto.modeling_auto`      | `AutoModel`, `…ForMaskedLM`, `…ForSequenceClassification`, `…ForTokenClassification` |
| `transformers.models.auto.tokenization_auto`  | `AutoTokenizer`: `NucleotideTransformerTokenizerFast`          |
| `transformers.pipelines`                      | the `"dna-embedding"` and `"variant-effect"` tasks             |
| `peft`                                        | IA3 / LoRA default target modules (`peft_defaults`)            |

The mechanism is a post-import hook: a `sys.meta_path` finder that recognises only those five names, lets the
usual finders locate the module, and runs our registration after the module's own code has run (the module then
gets its usual loader back). Nothing else about importing changes.
"""

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable


def register_auto_config() -> None:
    """`AutoConfig` resolves `model_type="nucleotide_transformer"` to `NucleotideTransformerConfig`."""
    from transformers import AutoConfig

    from .configuration_nucleotide_transformer import NucleotideTransformerConfig

    AutoConfig.register(NucleotideTransformerConfig.model_type, NucleotideTransformerConfig, exist_ok=True)


def auto_model_classes() -> dict[str, tuple[type, type]]:
    """`{Auto class name: (Auto class, our model class)}` for the four model heads."""
    from transformers import (
        AutoModel,
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    from .modeling_nucleotide_transformer import (
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerForSequenceClassification,
        NucleotideTransformerForTokenClassification,
        NucleotideTransformerModel,
    )

    return {
        "AutoModel": (AutoModel, NucleotideTransformerModel),
        "AutoModelForMaskedLM": (AutoModelForMaskedLM, NucleotideTransformerForMaskedLM),
        "AutoModelForSequenceClassification": (
            AutoModelForSequenceClassification,
            NucleotideTransformerForSequenceClassification,
        ),
        "AutoModelForTokenClassification": (
            AutoModelForTokenClassification,
            NucleotideTransformerForTokenClassification,
        ),
    }


def register_auto_models() -> None:
    """The four `AutoModel…` classes resolve our config to our model classes."""
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig

    for auto_class, model_class in auto_model_classes().values():
        auto_class.register(NucleotideTransformerConfig, model_class, exist_ok=True)


def register_auto_tokenizer() -> None:
    """`AutoTokenizer` resolves our config to `NucleotideTransformerTokenizerFast`."""
    from transformers import AutoTokenizer

    from .configuration_nucleotide_transformer import NucleotideTransformerConfig
    from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizerFast

    AutoTokenizer.register(
        NucleotideTransformerConfig, fast_tokenizer_class=NucleotideTransformerTokenizerFast, exist_ok=True
    )


def register_pipeline_tasks() -> None:
    """`pipeline("dna-embedding")` and `pipeline("variant-effect")`."""
    from .pipelines import register_pipelines

    register_pipelines()


def register_peft() -> None:
    """peft's per-model-type IA3 and LoRA defaults (see `peft_defaults`)."""
    from .peft_defaults import register_peft_defaults

    register_peft_defaults()


_PACKAGE = __name__.rsplit(".", 1)[0]

REGISTRATIONS: dict[str, tuple[str, tuple[str, ...], Callable[[], None]]] = {
    "auto-config": (
        "transformers.models.auto.configuration_auto",
        (f"{_PACKAGE}.configuration_nucleotide_transformer",),
        register_auto_config,
    ),
    "auto-models": (
        "transformers.models.auto.modeling_auto",
        (f"{_PACKAGE}.configuration_nucleotide_transformer", f"{_PACKAGE}.modeling_nucleotide_transformer"),
        register_auto_models,
    ),
    "auto-tokenizer": (
        "transformers.models.auto.tokenization_auto",
        (f"{_PACKAGE}.configuration_nucleotide_transformer", f"{_PACKAGE}.tokenization_nucleotide_transformer"),
        register_auto_tokenizer,
    ),
    "pipelines": ("transformers.pipelines", (f"{_PACKAGE}.pipelines",), register_pipeline_tasks),
    "peft": ("peft", (f"{_PACKAGE}.peft_defaults",), register_peft),
}
"""name -> (the registry module whose import triggers it, our modules it imports, the registration).

A registration runs once its registry module has been imported completely and none of our modules it imports is
half-way through its own import (our modeling file imports `transformers.modeling_layers`, which imports
`modeling_auto`: the Auto classes are then registered the moment our modeling module is complete)."""


def _initialising(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


class _RegisteringLoader(importlib.abc.Loader):
    """Runs the module's own loader, gives the module that loader back, then runs what became ready."""

    def __init__(self, loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _run_ready(just_loaded=self._name)

    def __getattr__(self, name):  # anything else a loader offers (get_code, get_resource_reader, ...)
        return getattr(self._loader, name)


class _RegisteringFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the modules pending registrations watch, it asks the other finders and wraps their
    loader so that the registrations can run when the module is complete."""

    def __init__(self) -> None:
        self._local = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _watched() or getattr(self._local, "busy", False):
            return None
        self._local.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._local.busy = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _RegisteringLoader(spec.loader, fullname)
        return spec


_FINDER = _RegisteringFinder()
_PENDING: dict[str, tuple[str, tuple[str, ...], Callable[[], None]]] = {}
_LOCK = threading.RLock()


def _watched() -> set[str]:
    return {name for trigger, needs, _ in _PENDING.values() for name in (trigger, *needs)}


def _run_ready(just_loaded: str | None = None) -> None:
    """Runs every pending registration whose registry is imported and whose own modules are not mid-import."""
    with _LOCK:
        for key, (trigger, needs, registration) in list(_PENDING.items()):
            loaded = trigger in sys.modules and (trigger == just_loaded or not _initialising(trigger))
            busy = any(_initialising(name) and name != just_loaded for name in needs)
            if loaded and not busy and key in _PENDING:
                del _PENDING[key]
                registration()
        if not _PENDING and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)


def install() -> None:
    """Runs each registration now if its registry is already imported, else as soon as it is (idempotent)."""
    with _LOCK:
        if not getattr(install, "done", False):
            _PENDING.update(REGISTRATIONS)
            install.done = True
            if _FINDER not in sys.meta_path:
                sys.meta_path.insert(0, _FINDER)
        _run_ready()


__all__ = ["REGISTRATIONS", "auto_model_classes", "install"]
