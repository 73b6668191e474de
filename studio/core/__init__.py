"""The Qt-free model side of the studio: contract, registry, store, data, checkpoints."""
