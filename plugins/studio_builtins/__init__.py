"""The studio's built-in model plugins. Each sub-package is one plugin, named by an
entry point in the ``studio.plugins`` group exactly as a third-party plugin is."""
