"""The Image Canvas: sample grids from image models. :mod:`.state` holds what the artist works on
(Qt-free), :mod:`.commands` its undoable edits, :mod:`.panel` draws it."""
