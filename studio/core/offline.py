"""Keep every Hugging Face library away from the network."""

import os

OFFLINE_VARIABLES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def force_offline() -> None:
    """Set the variables the HF libraries read at import; a user's value is overridden on purpose."""
    os.environ.update(OFFLINE_VARIABLES)
