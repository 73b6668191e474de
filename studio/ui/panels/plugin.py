"""The built-in panels, registered through the ``studio.plugins`` entry point like any plugin.

Only specs here: the widget modules are imported when the window builds them.
"""

from studio.core.specs import PanelSpec
from studio.hookspecs import hookimpl

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio.ui.panels"


@hookimpl
def studio_register_panels(register):
    register(PanelSpec(
        name="image-canvas", title="Image Canvas", order=10, capabilities=("ImageSampler",),
        widget=f"{_HERE}.image_canvas.panel:ImageCanvasPanel",
        description="Sample image grids, fix a seed, condition on a class or prompt, export PNG",
    ))
    register(PanelSpec(
        name="latent-explorer", title="Latent Explorer", order=20, capabilities=("LatentCodec",),
        widget=f"{_HERE}.latent_explorer.panel:LatentExplorerPanel",
        description="See a dataset as a map of latent space, decode any point, morph and add attribute vectors",
    ))
    register(PanelSpec(
        name="piano-roll", title="Piano Roll", order=30, capabilities=("MusicGenerator",),
        widget=f"{_HERE}.piano_roll.panel:PianoRollPanel",
        description="Draw notes, continue a phrase, generate bars, listen, export MIDI and WAV",
    ))
    register(PanelSpec(
        name="text-composer", title="Text Composer", order=40, capabilities=("SequenceGenerator",),
        widget=f"{_HERE}.text_composer.panel:TextComposerPanel",
        description="Type a prompt, stream a continuation, see attention, train on your own text",
    ))
    register(PanelSpec(
        name="dream-simulator", title="Dream Simulator", order=50, capabilities=("WorldModel",),
        widget=f"{_HERE}.dream_simulator.panel:DreamSimulatorPanel",
        description="Collect rollouts, train a world model, drive inside its dream, evolve a controller",
    ))
