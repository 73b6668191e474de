"""CLIP from the artist's own weights (chapter 13): how well each image of a grid shows its prompt.

A transformers CLIP model folder (``config.json``, ``model.safetensors``, the tokenizer's files and
``preprocessor_config.json``) is checked by :mod:`.loading` without transformers, then loaded offline
on the inference thread; :mod:`.model` scores images against a prompt. Registration imports nothing
heavy.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec

from .config import ClipConfig

#: the plugin contract this spec is written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio_builtins.clip"

__all__ = ["STUDIO_CONTRACT_VERSION", "ClipConfig", "studio_register_models"]


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="clip", title="CLIP (your weights)", family="clip",
        capabilities=("PromptScorer",), config=ClipConfig,
        factory=f"{_HERE}.loading:from_config", loader=f"{_HERE}.loading:load_clip", imports_from=("folder",),
        description="Scores each image of a grid against its prompt (the CLIP score, 100 x cosine similarity) "
                    "with a CLIP model folder you keep on disk (openai/clip-vit-large-patch14, say), loaded "
                    "offline through transformers; the canvas can order its grid by the score.",
    ))
