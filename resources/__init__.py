"""What the studio ships besides its code: the app icon now; starter models, instrument presets and
demo music as the panels that use them arrive. This folder is the ``studio_resources`` package of the
wheel (see pyproject.toml); code finds its files with ``importlib.resources.files("studio_resources")``,
never by a path relative to the source tree."""
