"""A cheap picture of Stable Diffusion latents as they form, without running the VAE.

Each latent pixel maps linearly to one RGB colour: the factors are the least-squares fit of decoded
colours on latents that the web UI uses for its "Approx cheap" live preview (SD 1.x/2.x share a
VAE; SDXL's has its own). The picture is blown up to the image's size by repetition, so the canvas
shows it where the finished image will be.
"""

from __future__ import annotations

import numpy as np

_SD1 = np.array([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264],
                 [-0.184, -0.271, -0.473]], np.float32)
_SDXL = np.array([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
                  [-0.3165, -0.2492, -0.2188]], np.float32)
_SDXL_BIAS = np.array([0.1084, -0.0175, -0.0011], np.float32)


def latents_to_rgb(latents: np.ndarray, family: str | None, scale: int) -> np.ndarray:
    """``latents`` ``(n, 4, h, w)`` to images ``(n, h*scale, w*scale, 3)`` float32 in [0, 1]."""
    latents = np.asarray(latents, np.float32)
    if latents.shape[1] != 4:  # a VAE of another width: show its first channels as grey
        grey = latents[:, :1].transpose(0, 2, 3, 1).repeat(3, axis=3)
        rgb = np.tanh(grey)
    else:
        factors, bias = (_SDXL, _SDXL_BIAS) if family == "sdxl" else (_SD1, np.zeros(3, np.float32))
        rgb = np.einsum("nchw,ck->nhwk", latents, factors) + bias
    rgb = np.clip((rgb + 1.0) / 2.0, 0.0, 1.0)
    return rgb.repeat(scale, axis=1).repeat(scale, axis=2)
