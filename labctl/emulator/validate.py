"""Route requests and check request bodies against the Compute v1 discovery document.

The discovery document ships with google-api-python-client
(``googleapiclient/discovery_cache/documents/compute.v1.json``, about 5 MB). It is read on the
first request only, so importing the emulator stays cheap.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.emulator.errors import ApiError

_INT_RE = re.compile(r"-?[0-9]+")
_UINT_RE = re.compile(r"[0-9]+")
_NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def discovery_path() -> Path:
    """Where google-api-python-client keeps the Compute v1 discovery document."""
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the emulator needs google-api-python-client for the Compute v1 discovery document; "
            "install labctl[emulator]"
        )
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "discovery_cache" / "documents" / "compute.v1.json"


@functools.cache
def discovery() -> dict[str, Any]:
    with discovery_path().open(encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


@dataclass(frozen=True)
class Method:
    """One API method from the discovery document, e.g. ``compute.instances.insert``."""

    id: str
    http_method: str
    path: str
    regex: re.Pattern[str]
    literals: int
    request: str | None
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _compile(path: str) -> tuple[re.Pattern[str], int]:
    parts = []
    literals = 0
    for seg in path.split("/"):
        m = re.fullmatch(r"\{\+?(\w+)\}", seg)
        if m:
            parts.append(f"(?P<{m.group(1)}>[^/]+)")
        else:
            parts.append(re.escape(seg))
            literals += 1
    return re.compile("/".join(parts)), literals


@functools.cache
def _methods() -> dict[tuple[str, int], list[Method]]:
    """Methods by (HTTP verb, number of path segments): routing tries only those that fit.

    Built once per process, like the discovery document itself; a request then tries a few
    regexes instead of every method of its verb.
    """
    by_verb: dict[tuple[str, int], list[Method]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for res in resources.values():
            for m in res.get("methods", {}).values():
                regex, literals = _compile(m["path"])
                method = Method(
                    id=m["id"],
                    http_method=m["httpMethod"],
                    path=m["path"],
                    regex=regex,
                    literals=literals,
                    request=(m.get("request") or {}).get("$ref"),
                    params=m.get("parameters", {}),
                )
                key = (method.http_method, method.path.count("/") + 1)
                by_verb.setdefault(key, []).append(method)
            walk(res.get("resources", {}))

    walk(discovery()["resources"])
    # Prefer the most specific path: ".../instances/bulkInsert" over ".../instances/{instance}".
    for methods in by_verb.values():
        methods.sort(key=lambda m: (-m.literals, m.path))
    return by_verb


def match(http_method: str, path: str) -> tuple[Method, dict[str, str]] | None:
    """Find the method for ``path`` (relative to ``/compute/v1/``) and its path parameters."""
    for method in _methods().get((http_method, path.count("/") + 1), []):
        m = method.regex.fullmatch(path)
        if m:
            return method, m.groupdict()
    return None


def check_params(method: Method, params: dict[str, str]) -> None:
    """Check path parameters (project, zone, resource names) against their patterns."""
    for name, value in params.items():
        spec = method.params.get(name, {})
        pattern = spec.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise ApiError(
                400,
                f"Invalid value for field '{name}': '{value}'. "
                f"Must be a match of regex '{pattern}'",
                "invalid",
            )


def check_body(method: Method, body: Any) -> None:
    """Raise a 400 ApiError if ``body`` does not fit the method's request schema."""
    if method.request is None:
        return
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
    _check(body, {"$ref": method.request}, "resource", method.id)


def _type_error(path: str, kind: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid value at '{path}' ({kind}), {json.dumps(value)}",
        "invalid",
    )


def _check(value: Any, schema: dict[str, Any], path: str, method_id: str) -> None:
    if value is None:  # JSON null means "unset" in proto3 JSON.
        return
    ref = schema.get("$ref")
    if ref:
        schema = discovery()["schemas"][ref]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        _check_object(value, schema, path, method_id)
    elif kind == "array":
        if not isinstance(value, list):
            raise _type_error(path, "TYPE_LIST", value)
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]", method_id)
    elif kind == "string":
        _check_string(value, schema, path)
    elif kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _INT_RE.fullmatch(value)
        )
        if not ok:
            raise _type_error(path, f"TYPE_{schema.get('format', 'int32').upper()}", value)
        if schema.get("format") == "uint32" and int(value) < 0:
            raise _type_error(path, "TYPE_UINT32", value)
    elif kind == "number":
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and _NUMBER_RE.fullmatch(value)
        )
        if not ok:
            raise _type_error(path, "TYPE_DOUBLE", value)
    elif kind == "boolean" and not isinstance(value, bool):
        raise _type_error(path, "TYPE_BOOL", value)


def _check_object(value: Any, schema: dict[str, Any], path: str, method_id: str) -> None:
    if not isinstance(value, dict):
        raise _type_error(path, "TYPE_MESSAGE", value)
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            _check(item, props[key], f"{path}.{key}", method_id)
        elif extra is not None:
            _check(item, extra, f"{path}.{key}", method_id)
        else:
            raise ApiError(
                400,
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': "
                "Cannot find field.",
                "invalid",
            )
    for key, prop in props.items():
        required = prop.get("annotations", {}).get("required", [])
        if method_id in required and value.get(key) in (None, ""):
            raise ApiError(400, f"Required field '{path}.{key}' not specified", "required")


def _check_string(value: Any, schema: dict[str, Any], path: str) -> None:
    fmt = schema.get("format")
    if fmt in ("int64", "uint64"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and (_UINT_RE if fmt == "uint64" else _INT_RE).fullmatch(value)
        )
        if not ok or (fmt == "uint64" and int(value) < 0):
            raise _type_error(path, f"TYPE_{fmt.upper()}", value)
        return
    if not isinstance(value, str):
        raise _type_error(path, "TYPE_STRING", value)
    if fmt == "byte" and not _BASE64_RE.fullmatch(value):
        raise _type_error(path, "TYPE_BYTES", value)
    enum = schema.get("enum")
    if enum and value not in enum:
        raise ApiError(
            400,
            f"Invalid value for field '{path}': '{value}'. Must be one of {', '.join(enum)}.",
            "invalid",
        )
    pattern = schema.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise ApiError(
            400,
            f"Invalid value for field '{path}': '{value}'. Must be a match of regex '{pattern}'",
            "invalid",
        )
