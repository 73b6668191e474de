"""Model configs: dataclasses that travel as JSON (in checkpoints, job files and `--set`)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from studio.core.errors import UserError


class ConfigError(UserError):
    """A setting does not fit the model's config."""


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config dataclass; fields it no longer has are an error, new ones take defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"The saved settings {unknown} are unknown to this version of the model; "
            "it was made by a different version of its plugin."
        )
    return cls(**data)


def apply_overrides(config: Any, overrides: dict[str, str]) -> Any:
    """Apply ``--set name=value`` strings to a config dataclass, typed by its fields."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    values = {}
    for name, text in overrides.items():
        if name not in fields:
            raise ConfigError(f"The model has no setting {name!r}; it has {', '.join(sorted(fields))}.")
        current = getattr(config, name)
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                values[name] = text.lower() in ("true", "1", "yes")
            elif current is None:
                values[name] = json.loads(text)
            else:
                values[name] = type(current)(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is not a valid {type(current).__name__}.") from None
    return dataclasses.replace(config, **values)
