"""class.toml: read, checked, every error naming the file, line and field (exit code 2).

[class]            course, roster (relative to this file), ends, zones (optional)
[class.vm]         any course VM setting (labctl.toml's [course] keys); gpu = true/false
[class.bucket]     per_student = true, location (default: each student's VM region)
[class.schedule]   start, stop (unix-cron), timezone: one instance schedule per region
[class.budget]     per_student_usd
"""

from __future__ import annotations

import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labctl.config import CourseConfig, Settings
from labctl.errors import ConfigError, InvalidInput, LocalError
from labctl.naming import ZONE_RE

DEFAULT_FILE = "class.toml"
# The course starts every VM and bucket name: "<course>-<slug>" must fit Compute's 63
# characters with a 30-character slug.
COURSE_RE = r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$"
_CRON_FIELD = re.compile(r"[0-9*/,-]+|[A-Za-z]{3}(-[A-Za-z]{3})?")
# [course] keys a class decides itself (name, zones) or that make no sense per class.
_NOT_VM_SETTINGS = ("name", "zone", "fallback_zones", "ttl_days")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Bucket(_Strict):
    per_student: bool = False
    location: str | None = None


class _Schedule(_Strict):
    start: str | None = None
    stop: str | None = None
    timezone: str = "UTC"

    @field_validator("start", "stop")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"{value!r} is not a unix-cron line of five fields (e.g. '0 9 * * 1')")
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Zurich)") from None
        return value


class _Budget(_Strict):
    per_student_usd: float = Field(gt=0)


class _Class(_Strict):
    course: str = Field(pattern=COURSE_RE)
    roster: str = "roster.csv"
    ends: date
    zones: list[str] = []
    vm: dict[str, Any] = {}
    bucket: _Bucket = _Bucket()
    schedule: _Schedule | None = None
    budget: _Budget | None = None

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for zone in value:
            if not ZONE_RE.fullmatch(zone):
                raise ValueError(f"{zone!r} does not look like a zone (e.g. us-central1-c)")
        if len(set(value)) != len(value):
            raise ValueError("a zone is listed twice")
        return value


class _File(_Strict):
    class_: _Class = Field(alias="class")


@dataclass(frozen=True)
class ClassSchedule:
    start: str | None
    stop: str | None
    timezone: str


@dataclass(frozen=True)
class ClassFile:
    """A checked class.toml. `lines` maps dotted keys ("class.vm.gpu") to their line."""

    path: Path
    course: str
    roster: Path
    ends: date
    zones: tuple[str, ...]  # () = the course configuration's zone and fallbacks
    vm: Mapping[str, Any]
    buckets: bool
    bucket_location: str | None
    schedule: ClassSchedule | None
    budget_usd: float | None
    lines: Mapping[str, int] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """'class.toml line 7' for the line that set `key` (or its nearest parent)."""
        return where(self.path, self.lines, key)


def load_class(path: Path | None) -> ClassFile:
    """Read and check class.toml (or `path`); InvalidInput naming file, line and field."""
    path = path or Path(DEFAULT_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalError(
            f"class file not found: {path}",
            field="FILE",
            hint="copy configs/class.example.toml to class.toml and edit it",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"class file {path}: cannot read it as UTF-8 text ({exc})") from None
    lines = toml_lines(text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}", field=path.name) from None
    try:
        checked = _File.model_validate(raw).class_
    except ValidationError as exc:
        raise _invalid(path, lines, exc) from None
    return ClassFile(
        path=path,
        course=checked.course,
        roster=(path.parent / checked.roster),
        ends=checked.ends,
        zones=tuple(checked.zones),
        vm=dict(checked.vm),
        buckets=checked.bucket.per_student,
        bucket_location=checked.bucket.location,
        schedule=_schedule(path, lines, checked.schedule),
        budget_usd=checked.budget.per_student_usd if checked.budget else None,
        lines=lines,
    )


def _schedule(path: Path, lines: Mapping[str, int], raw: _Schedule | None) -> ClassSchedule | None:
    if raw is None:
        return None
    if not raw.start and not raw.stop:
        raise InvalidInput(
            f"{where(path, lines, 'class.schedule')}: class.schedule needs start, stop or both",
            field=where(path, lines, "class.schedule"),
        )
    return ClassSchedule(raw.start, raw.stop, raw.timezone)


def class_settings(cf: ClassFile, settings: Settings) -> Settings:
    """The course configuration with the class's own: its name, zones and [class.vm] keys."""
    vm = dict(cf.vm)
    for key in _NOT_VM_SETTINGS:
        if key in vm:
            raise InvalidInput(
                f"{cf.where(f'class.vm.{key}')}: class.vm.{key} is not a VM setting "
                "(the course name and zones are set in [class])",
                field=cf.where(f"class.vm.{key}"),
            )
    if isinstance(vm.get("gpu"), bool):
        vm["gpu"] = {"enabled": vm["gpu"]}
    if isinstance(vm.get("startup_script"), str) and vm["startup_script"]:
        vm["startup_script"] = str(cf.path.parent / vm["startup_script"])
    course = _merge(settings.course.model_dump(), vm)
    zones = list(cf.zones) or settings.allowed_zones
    course.update(name=cf.course, zone=zones[0], fallback_zones=zones[1:], ttl_days=None)
    try:
        checked = CourseConfig.model_validate(course)
    except ValidationError as exc:
        raise _invalid(cf.path, cf.lines, exc, prefix=("class", "vm")) from None
    return settings.model_copy(update={"course": checked})


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# -- where a key is ------------------------------------------------------------------------------

_TABLE_RE = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?")
_KEY_RE = re.compile(r'^("[^"]+"|[A-Za-z0-9_.-]+)\s*=')


def toml_lines(text: str) -> dict[str, int]:
    """Dotted key -> line number, for tables and `key = value` lines (not inside arrays)."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = _TABLE_RE.match(line)
        if header:
            table = header.group(1).replace('"', "")
            lines.setdefault(table, number)
            continue
        key = _KEY_RE.match(line)
        if key:
            dotted = f"{table}.{key.group(1).strip(chr(34))}" if table else key.group(1)
            lines.setdefault(dotted, number)
    return lines


def where(path: Path, lines: Mapping[str, int], key: str) -> str:
    parts = key.split(".")
    while parts:
        number = lines.get(".".join(parts))
        if number is not None:
            return f"{path.name} line {number}"
        parts.pop()
    return path.name


def _invalid(
    path: Path, lines: Mapping[str, int], exc: ValidationError, prefix: tuple[str, ...] = ()
) -> InvalidInput:
    problems = []
    for error in exc.errors(include_url=False):
        loc = [*prefix, *(str(p) for p in error["loc"])]
        dotted = ".".join(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        elif error["type"] == "string_pattern_mismatch" and loc[-1] == "course":
            message = "use 1-32 lowercase letters, digits and '-', starting with a letter"
        problems.append((where(path, lines, dotted), f"{dotted}: {message}"))
    first_where, _ = problems[0]
    text = "; ".join(f"{w}: {m}" for w, m in problems)
    return InvalidInput(text, field=first_where)
