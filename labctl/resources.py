"""Find files shipped with labctl: inside the wheel (labctl/_data) or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DATA = Path(__file__).parent / "_data"
_CHECKOUT = Path(__file__).resolve().parent.parent


def data_path(relative: str) -> Path:
    """'configs/defaults.toml' or 'scripts/startup_script.sh' -> the file's path."""
    for root in (_PACKAGE_DATA, _CHECKOUT):
        candidate = root / relative
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"labctl data file missing: {relative} (reinstall labctl)")
