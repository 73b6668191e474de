"""The five built-in tool panels. They reach the studio through the same plugin
entry point as any third-party panel (see :mod:`studio.ui.panels.plugin`)."""
