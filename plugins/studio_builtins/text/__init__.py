"""Built-in text models for the text composer: chapter 5's LSTM, chapter 9's GPT
and Hugging Face causal language models from a local folder.

This module only registers specs; torch, ``tokenizers`` and transformers are
imported by the modules the specs name, when a model is first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec

from .config import GPTConfig, HFCausalLMConfig, LSTMConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio_builtins.text"

__all__ = ["STUDIO_CONTRACT_VERSION", "GPTConfig", "HFCausalLMConfig", "LSTMConfig", "studio_register_models"]


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="lstm", title="LSTM / GRU language model", family="lstm",
        capabilities=("SequenceGenerator", "Trainer"), config=LSTMConfig,
        factory=f"{_HERE}.lstm:LSTMModel", trainer=f"{_HERE}.trainer:LSTMTrainer", data_kind="text",
        description="Stacked recurrent layers predicting the next character or BPE token (chapter 5).",
    ))
    register(ModelSpec(
        name="gpt", title="GPT (transformer)", family="transformer",
        capabilities=("SequenceGenerator", "Trainer"), config=GPTConfig,
        factory=f"{_HERE}.gpt:GPT", trainer=f"{_HERE}.trainer:GPTTrainer", data_kind="text", featured=True,
        description="A small nanoGPT-style decoder-only transformer with a key/value cache (chapter 9).",
    ))
    register(ModelSpec(
        name="hf-causal-lm", title="Hugging Face causal LM (local folder)", family="transformer",
        capabilities=("SequenceGenerator",), config=HFCausalLMConfig,
        factory=f"{_HERE}.hf:from_config", loader=f"{_HERE}.hf:load_hf_folder", imports_from=("folder",),
        description="A GPT-2-style model folder (config.json, model.safetensors, tokenizer files) "
                    "loaded offline with transformers.",
    ))
