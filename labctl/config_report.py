"""Where each setting comes from (`labctl config show`), writing a config file, and what
`labctl init` proposes: the parts of the configuration only those commands need."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from labctl.config import (
    PROJECT_FILE,
    Layer,
    Settings,
    _deep_merge,
    _nest,
    _read_toml,
    _validate,
    config_layers,
)
from labctl.errors import LocalError


@dataclass(frozen=True)
class Setting:
    """One effective setting: its dotted key ("course.gpu.type"), value, and where it came from
    (`source`: default, user file, project file, env, flag or CLOUDSDK_COMPUTE_ZONE; `origin`:
    the file, variable or flag)."""

    key: str
    value: Any
    source: str
    origin: str | None = None


def effective_settings(
    *, config_file: Path | None = None, project: str | None = None, zone: str | None = None
) -> list[Setting]:
    """Every setting with the layer that decided it, in the order of the Settings model."""
    layers = config_layers(config_file=config_file, project=project, zone=zone)
    settings = _validate(layers)
    found = []
    for key, value in _flatten(settings):
        layer = _deciding_layer(key, layers)
        origin = layer.names.get(key, str(layer.path) if layer.path else None)
        if layer.kind in ("default", "CLOUDSDK_COMPUTE_ZONE"):
            origin = None
        found.append(Setting(key, value, layer.kind, origin))
    return found


def setting_values(settings: Settings) -> dict[str, Any]:
    """{"course.gpu.type": "nvidia-tesla-p100", ...}: every setting by its dotted key."""
    return dict(_flatten(settings))


def _flatten(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            rows += _flatten(value, key + ".")
        else:
            rows.append((key, value.value if isinstance(value, Enum) else value))
    return rows


def _deciding_layer(key: str, layers: list[Layer]) -> Layer:
    for layer in reversed(layers):
        node: Any = layer.values
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return layer
    return layers[0]


def write_config(path: Path, updates: Mapping[str, Any]) -> Path:
    """Set dotted keys (`{"course.zone": "us-east1-c"}`) in the TOML file at `path`, keeping
    its other settings; the result is validated with every other layer before it is written.
    Comments in an existing file are not kept."""
    current = _read_toml(path) if path.is_file() else {}
    _deep_merge(current, _nest(updates))
    layers = [
        layer
        for layer in config_layers()
        if layer.path is None or layer.path.resolve() != path.resolve()
    ]
    layers.insert(
        -2, Layer("project file" if path.name == PROJECT_FILE else "user file", current, path)
    )
    _validate(layers)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(to_toml(current), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise LocalError(f"cannot write {path}: {exc.strerror}", field=str(path)) from None
    return path


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A small TOML writer for configuration: tables, strings, numbers, booleans, lists."""
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)
    ]
    for key, value in data.items():
        if isinstance(value, Mapping):
            name = f"{prefix}{_toml_key(key)}"
            lines += ["", f"[{name}]", to_toml(value, name + ".").rstrip("\n")]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Enum):
        value = value.value
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def resolved_project(settings: list[Setting]) -> Setting | None:
    """The project commands will use when gcp.project is empty (GOOGLE_CLOUD_PROJECT, gcloud's
    configuration ...; the credentials' own project is known only once they are loaded), as a
    Setting whose `origin` names where it came from; None when nothing names one."""
    configured = next((s for s in settings if s.key == "gcp.project"), None)
    if configured is not None and configured.value:
        return Setting("gcp.project", configured.value, "labctl settings", configured.origin)
    from labctl.providers.gcp.auth import known_project_source

    found = known_project_source()
    return Setting("gcp.project", found[0], "fallback", found[1]) if found else None


@dataclass(frozen=True)
class Proposal:
    """What `labctl init` offers for one answer, and why ("gcloud config", "course default")."""

    value: Any
    why: str


def init_proposals(settings: Settings) -> dict[str, Proposal | None]:
    """Answers for `labctl init` from what this machine already has: gcloud's project and zone,
    the quota project of Application Default Credentials, else the effective settings."""
    from labctl.providers.gcp.auth import adc_quota_project, gcloud_zone, known_project_source

    course = settings.course
    project: Proposal | None = None
    if settings.gcp.project:
        project = Proposal(settings.gcp.project, "labctl settings")
    else:
        found = known_project_source()
        adc = adc_quota_project()
        if found:
            project = Proposal(found[0], found[1])
        elif adc:
            project = Proposal(adc, "application default credentials")
    zone = gcloud_zone()
    return {
        "project": project,
        "course": Proposal(course.name, "current"),
        "zone": Proposal(zone, "gcloud config") if zone else Proposal(course.zone, "current"),
        "idle_minutes": Proposal(course.idle_shutdown_minutes, "current"),
    }
