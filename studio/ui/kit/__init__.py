"""The panel kit: what every tool panel is built from, so each panel is written once, one way.

Qt-free (the import linter keeps them so; a panel's state is tested without a window):

- :mod:`.evented`: change notifications for plain-Python state.
- :mod:`.models`: the trained models a panel can use (:class:`~.models.ModelList`).
- :mod:`.work`: the one request mechanism: submit to the inference thread, progress and ETA,
  cancel, newest-wins by name, results no longer wanted dropped, failures reported.
- :mod:`.state`: :class:`~.state.PanelState`, the base of every panel's state: the chosen model,
  its checkpoint's SHA-256, provenance of results and restoring them.

Qt:

- :mod:`.panel`: :class:`~.panel.Panel` and :class:`~.panel.PanelContext`, the empty state.
- :mod:`.model_panel`: :class:`~.model_panel.ModelPanel`, a panel working on one capability.
- :mod:`.picker`, :mod:`.task_bar`, :mod:`.messages`, :mod:`.undo`: the model picker, the
  progress/Cancel strip, error boxes with details, undoable edits.
"""
