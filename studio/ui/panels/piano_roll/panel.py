"""The Piano Roll: draw, continue and generate music."""

from studio.ui.kit.model_panel import ModelPanel


class PianoRollPanel(ModelPanel):
    what_it_does = ("Draw and edit notes, continue a phrase, generate bars with chord, style and groove "
                    "controls, listen, and export MIDI and WAV.")
    families = "Music transformers and MuseGAN"
