"""The sampler menu artists know from the most used web UI, mapped onto diffusers' schedulers.

Each name is a scheduler class and the options that make it that sampler; the scheduler is built
from the model's own scheduler config, so it keeps the model's training schedule (betas, prediction
type, timestep spacing) and only the way of stepping changes. Samplers that need packages the studio
does not depend on (DPM++ SDE needs ``torchsde``, LMS ``scipy``) are left out.
"""

from __future__ import annotations

from typing import Any

from studio.core.capabilities import ModelError

#: menu name -> (diffusers scheduler class, options over the model's scheduler config); the first is
#: the default, as in the web UI
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler",
                        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {"set_alpha_to_one": False}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}


def scheduler_for(name: str, base_config: Any) -> Any:
    """The diffusers scheduler that samples as ``name`` does, on the schedule of ``base_config``."""
    import diffusers

    if name not in SAMPLERS:
        raise ModelError(f"The samplers are {', '.join(SAMPLERS)}; not {name!r}.")
    class_name, options = SAMPLERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **options)
