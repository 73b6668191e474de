"""Music, Qt-free: a :class:`~.score.Score` (the contract's notes, in beats, with tracks, tempo and
time signatures), MIDI files in and out (:mod:`.midi`), and sound (:mod:`.synth`, :mod:`.fluid`,
:mod:`.wav`, :mod:`.playback`, :mod:`.live`)."""
