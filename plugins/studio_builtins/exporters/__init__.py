"""Built-in exporters: PNG with parameters, a PNG sheet and an animated GIF of a
sequence, plain text or Markdown with a settings sidecar, and notes as a MIDI file or a WAV render."""

from studio import hookimpl
from studio.core.specs import ExporterSpec

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_W = "studio.core.artifacts"
_MUSIC = "studio.core.music"


@hookimpl
def studio_register_exporters(register):
    register(ExporterSpec(name="png", title="PNG image", artifact="image", extensions=(".png",),
                          writer=f"{_W}:write_png", description="with the parameters that made it"))
    register(ExporterSpec(name="png-sheet", title="PNG sheet", artifact="image-sequence", extensions=(".png",),
                          writer=f"{_W}:write_sheet_png", description="every frame side by side, with parameters"))
    register(ExporterSpec(name="gif", title="Animated GIF", artifact="image-sequence", extensions=(".gif",),
                          writer=f"{_W}:write_gif", description="a looping animation"))
    register(ExporterSpec(name="text", title="Text", artifact="text", extensions=(".txt", ".md"),
                          writer=f"{_W}:write_text", description="with a .studio.json sidecar of its settings"))
    register(ExporterSpec(name="midi", title="MIDI file", artifact="notes", extensions=(".mid", ".midi"),
                          writer=f"{_MUSIC}.midi:write_midi_artifact",
                          description="type 1: tempo, time signature, a track per voice, the parameters"))
    register(ExporterSpec(name="wav", title="WAV audio", artifact="notes", extensions=(".wav",),
                          writer=f"{_MUSIC}.wav:write_wav_artifact",
                          description="rendered with the piano roll's synthesizer"))
