"""The Latent Explorer's parts: the map, the strips and tools, the work sent to the inference thread."""
