"""The Text Composer: stream continuations of a prompt."""

from studio.ui.panels.base import ModelPanel


class TextComposerPanel(ModelPanel):
    what_it_does = ("Type a prompt and stream a continuation, with temperature and top-k; see what each "
                    "word attended to; train a model on your own text.")
    families = "LSTMs, GPT-style transformers and local Hugging Face language models"
