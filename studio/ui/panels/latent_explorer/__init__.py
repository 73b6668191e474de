"""The Latent Explorer: :mod:`.state` holds what the artist works on (Qt-free), :mod:`.commands`
its undoable edits, :mod:`.panel` and its widgets (the map, the strips, the tools) draw it;
:mod:`.work` is what runs on the inference thread."""
