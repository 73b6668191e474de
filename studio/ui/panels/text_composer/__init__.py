"""The Text Composer: :mod:`.state` holds what the artist works on (Qt-free); :mod:`.panel` wires it
to the editor that streams tokens, the sampling controls, the alternatives row and the attention
view. The work a request does on the inference thread lives in :mod:`.generation` (Qt-free)."""
