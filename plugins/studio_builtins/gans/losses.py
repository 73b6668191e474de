"""The chapter-4 losses: the DCGAN's cross-entropy on noisy labels, and WGAN-GP's gradient penalty."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

#: Keras clips probabilities to [1e-7, 1 - 1e-7] in its cross-entropy; these are the logits of those bounds.
LOGIT_LIMIT = math.log((1 - 1e-7) / 1e-7)


def noisy_label_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy as Keras computes the book's discriminator loss. Its noisy labels leave [0, 1]
    (real ones up to 1.1, fake ones down to -0.1), where the cross-entropy of a logit has no minimum: it
    falls for ever as the logit grows. Keras' clipping bounds it, and stops the gradient at the bound;
    clamping the logits does the same."""
    return F.binary_cross_entropy_with_logits(logits.clamp(-LOGIT_LIMIT, LOGIT_LIMIT), targets)


def mixing_weights(n: int, device: torch.device) -> torch.Tensor:
    """ε ~ U(0, 1), one per image ``(n, 1, 1, 1)``: where on the line from a real image to a fake one the
    gradient penalty is taken (Gulrajani et al. 2017, Algorithm 1). The book's code, after the Keras
    example, draws ε from a standard normal, which puts most points off the segment between the two."""
    return torch.rand(n, 1, 1, 1, device=device)


def gradient_penalty(model, real: torch.Tensor, fake: torch.Tensor,
                     labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The mean of (‖∇ critic(x̂)‖ - 1)² over points x̂ = real + ε (fake - real): the soft form of the
    1-Lipschitz constraint the Wasserstein distance needs. Differentiable in the critic's weights."""
    epsilon = mixing_weights(len(real), real.device)
    mixed = (real + epsilon * (fake.detach() - real)).requires_grad_(True)
    (gradients,) = torch.autograd.grad(model.criticise(mixed, labels).sum(), mixed, create_graph=True)
    return (gradients.flatten(1).norm(dim=1) - 1.0).square().mean()
