"""Stable Diffusion from the artist's own weights (issue 16).

For now only :mod:`.source`, which recognises a model on disk and says what is wrong with it
without importing torch, diffusers or transformers; no plugin hooks are registered yet.
"""
