"""One typed configuration assembled from layers; a bad value is reported by its dotted field name.

Precedence, highest first: command-line flags > LABCTL_* environment > project file (./labctl.toml
or --config FILE) > user file (<config dir>/config.toml) > CLOUDSDK_COMPUTE_ZONE (zone only) >
configs/defaults.toml.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labctl.errors import ConfigError, InvalidInput, LocalError
from labctl.models import Provisioning
from labctl.naming import ZONE_RE, check_labels, check_project_id, label_value
from labctl.resources import data_path

PROJECT_FILE = "labctl.toml"
ENV_PREFIX = "LABCTL_"
# Short environment names for the settings people change most; any other field is reachable as
# LABCTL_<SECTION>__<FIELD> (double underscore between levels), e.g. LABCTL_COURSE__GPU__COUNT=2.
ENV_ALIASES = {
    "LABCTL_PROJECT": ("gcp", "project"),
    "LABCTL_ZONE": ("course", "zone"),
    "LABCTL_COURSE": ("course", "name"),
}
# Environment variables that are not settings.
ENV_NOT_SETTINGS = {"LABCTL_CONFIG_DIR", "LABCTL_DEBUG", "LABCTL_PROVIDER", "LABCTL_OWNER"}

# One rule per value, whether it comes from a flag, the environment or a file.
DISK_GB = (10, 65536)  # Compute's limits for a persistent disk
GPU_COUNTS = (1, 2, 4, 8)  # what N1 machines accept (a P100 VM takes 1, 2 or 4)
SSH_KEY_DAYS = (1, 365)
IDLE_MINUTES = (0, 10080)
MAX_RUN_HOURS = (1, 24 * 120)  # maxRunDuration: up to 120 days
CLEANUP_MAX = 100_000  # any cleanup threshold, in its own unit (minutes, hours or days)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuConfig(_Strict):
    enabled: bool = True
    type: str = Field("nvidia-tesla-p100", pattern=r"^[a-z][a-z0-9-]{1,62}$")
    count: int = 1

    @field_validator("count")
    @classmethod
    def _count_allowed(cls, value: int) -> int:
        if value not in GPU_COUNTS:
            raise ValueError(f"must be one of {', '.join(map(str, GPU_COUNTS))}")
        return value


class BootDiskConfig(_Strict):
    size_gb: int = Field(100, ge=DISK_GB[0], le=DISK_GB[1])
    image_family: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    image_project: str = Field(min_length=1)

    @field_validator("image_project")
    @classmethod
    def _project_valid(cls, value: str) -> str:
        return _project(value)


class CourseConfig(_Strict):
    name: str = Field(min_length=1, max_length=63)
    zone: str = Field(pattern=f"^{ZONE_RE.pattern}$")
    fallback_zones: list[str] = []
    machine_type: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    provisioning: Provisioning = Provisioning.SPOT
    termination_action: Literal["STOP", "DELETE"] = "STOP"
    idle_shutdown_minutes: int = Field(60, ge=IDLE_MINUTES[0], le=IDLE_MINUTES[1])
    max_run_hours: int | None = Field(None, ge=MAX_RUN_HOURS[0], le=MAX_RUN_HOURS[1])
    ttl_days: int | None = Field(None, ge=1, le=365)
    ends: date | None = None  # the last day; then cleanup --include-buckets deletes its buckets
    startup_script: str = ""
    ssh_key_days: int = Field(30, ge=SSH_KEY_DAYS[0], le=SSH_KEY_DAYS[1])
    gpu: GpuConfig = GpuConfig()
    boot_disk: BootDiskConfig
    labels: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _name_is_label_safe(cls, value: str) -> str:
        if label_value(value) != value:
            raise ValueError(
                f"must be lowercase letters, digits, '-' or '_' (e.g. {label_value(value)!r})"
            )
        return value

    @field_validator("fallback_zones")
    @classmethod
    def _zones_valid(cls, value: list[str]) -> list[str]:
        for zone in value:
            if not ZONE_RE.fullmatch(zone):
                raise ValueError(f"{zone!r} does not look like a zone (e.g. us-central1-c)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            return check_labels(value)
        except InvalidInput as exc:  # keep naming's explanation
            raise ValueError(exc.message) from None


def _project(value: str) -> str:
    try:
        return check_project_id(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class GcpConfig(_Strict):
    project: str = ""

    @field_validator("project")
    @classmethod
    def _project_valid(cls, value: str) -> str:
        return _project(value) if value else value


class CleanupConfig(_Strict):
    """What `labctl cleanup` looks for. Each threshold is reached at that age or more; 0 turns
    that rule off."""

    idle_minutes: int = Field(60, ge=0, le=CLEANUP_MAX)  # the on-VM agent's labctl/last-active
    max_running_hours: int = Field(12, ge=0, le=CLEANUP_MAX)  # since the VM's last start
    stopped_days: int = Field(7, ge=0, le=CLEANUP_MAX)  # stopped VMs still bill their disks
    orphan_disk_days: int = Field(1, ge=0, le=CLEANUP_MAX)  # since detached (else created)
    unused_address_hours: int = Field(24, ge=0, le=CLEANUP_MAX)  # reserved, not in use
    snapshot_days: int = Field(30, ge=0, le=CLEANUP_MAX)  # snapshots labctl made


class Settings(_Strict):
    gcp: GcpConfig = GcpConfig()
    course: CourseConfig
    cleanup: CleanupConfig = CleanupConfig()

    @property
    def allowed_zones(self) -> list[str]:
        """The configured zone first, then the fallbacks, without repeats."""
        return list(dict.fromkeys([self.course.zone, *self.course.fallback_zones]))


def config_dir() -> Path:
    """labctl's per-user directory (config file, SSH key, known hosts); it may not exist yet."""
    override = os.environ.get("LABCTL_CONFIG_DIR")
    if override:
        path = Path(override)
        source = "LABCTL_CONFIG_DIR"
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(base) / "labctl"
        source = "the config directory"
    if path.exists() and not path.is_dir():
        raise LocalError(f"{source} {path} is a file, not a directory", field=source)
    return path


def load_settings(
    *, config_file: Path | None = None, project: str | None = None, zone: str | None = None
) -> Settings:
    """Merge every layer and validate once; `project` and `zone` are the --project/--zone flags."""
    return _validate(config_layers(config_file=config_file, project=project, zone=zone))


@dataclass(frozen=True)
class Layer:
    """One source of settings. `kind` is default, CLOUDSDK_COMPUTE_ZONE, user file, project
    file, env or flag; `path` is the file for the file kinds; `names` maps a dotted setting to
    the environment variable or flag that set it."""

    kind: str
    values: dict[str, Any]
    path: Path | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else self.kind


def user_config_file() -> Path:
    """`<config dir>/config.toml`, which `labctl init` writes by default."""
    return config_dir() / "config.toml"


def config_layers(
    *, config_file: Path | None = None, project: str | None = None, zone: str | None = None
) -> list[Layer]:
    """Every layer, lowest precedence first (see the module docstring)."""
    defaults = data_path("configs/defaults.toml")
    layers = [Layer("default", _read_toml(defaults), defaults)]
    cloudsdk_zone = os.environ.get("CLOUDSDK_COMPUTE_ZONE")
    if cloudsdk_zone:
        zone_layer = {"course": {"zone": cloudsdk_zone}}
        layers.append(Layer("CLOUDSDK_COMPUTE_ZONE", zone_layer))
    user_file = user_config_file()
    if user_file.is_file():
        layers.append(Layer("user file", _read_toml(user_file), user_file))
    project_file = config_file or Path(PROJECT_FILE)
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    if project_file.is_file():
        layers.append(Layer("project file", _read_toml(project_file), project_file))
    env_values, env_names = _env_layer(os.environ)
    layers.append(Layer("env", env_values, None, env_names))
    flags: dict[str, Any] = {}
    names = {}
    if project is not None:
        flags["gcp"] = {"project": project}
        names["gcp.project"] = "--project"
    if zone is not None:
        flags["course"] = {"zone": zone}
        names["course.zone"] = "--zone"
    layers.append(Layer("flag", flags, None, names))
    return layers


def _validate(layers: list[Layer]) -> Settings:
    merged: dict[str, Any] = {}
    for layer in layers:
        _deep_merge(merged, layer.values)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), hint=_where(exc, layers), field=_field(exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (save it as UTF-8)", field=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", field=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", field=str(path)) from None


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings from LABCTL_* variables, and which variable set each dotted key."""
    flat: dict[str, Any] = {}
    names: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in ENV_NOT_SETTINGS:
            continue
        if key in ENV_ALIASES:
            dotted = ".".join(ENV_ALIASES[key])
            flat[dotted], names[dotted] = value, key
        elif "__" in key:
            dotted = ".".join(key[len(ENV_PREFIX) :].lower().split("__"))
            flat[dotted], names[dotted] = _env_value(value), key
    return _nest(flat), names


def _env_value(value: str) -> Any:
    """Lists are comma-separated in the environment: LABCTL_COURSE__FALLBACK_ZONES=a,b."""
    return [v.strip() for v in value.split(",") if v.strip()] if "," in value else value


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _deep_merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "extra_forbidden": "unknown setting (check the spelling)",
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "bool_parsing": "must be true or false",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must be lowercase letters, digits and '-', starting with a letter",
}


def _describe(exc: ValidationError) -> str:
    """'course.gpu.count: must be >= 1, got 0' (all problems, separated by '; ')."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        template = _MESSAGES.get(err["type"])
        if err["type"] == "string_pattern_mismatch" and err["loc"][-1] == "zone":
            template = "does not look like a zone (e.g. us-central1-c)"
        ctx = err.get("ctx") or {}
        message = template.format(**ctx) if template else err["msg"].removeprefix("Value error, ")
        got = (
            "" if err["type"] in ("missing", "extra_forbidden") else f", got {_show(err['input'])}"
        )
        parts.append(f"{field}: {message}{got}")
    return "; ".join(parts)


def _field(exc: ValidationError) -> str:
    return ".".join(str(p) for p in exc.errors(include_url=False)[0]["loc"])


def _show(value: Any) -> str:
    """Numbers read from the environment arrive as strings; show them as the user typed them."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return repr(value)


def _where(exc: ValidationError, layers: list[Layer]) -> str | None:
    """Name the layer that set the first bad field, so the user knows which file to edit."""
    loc = exc.errors(include_url=False)[0]["loc"]
    for layer in reversed(layers):
        node: Any = layer.values
        for part in loc:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            dotted = ".".join(str(p) for p in loc)
            if layer.kind == "env":
                return f"set by environment ({layer.names.get(dotted, 'LABCTL_*')})"
            return f"set by {layer.source}"
    return None
