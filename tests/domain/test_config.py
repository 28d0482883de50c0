from __future__ import annotations

from pathlib import Path

import pytest

from labctl.config import config_dir, load_settings
from labctl.errors import ConfigError
from labctl.models import Provisioning


def test_defaults_are_the_course_vm() -> None:
    s = load_settings()
    assert s.course.machine_type == "n1-standard-8"
    assert s.course.gpu.type == "nvidia-tesla-p100" and s.course.gpu.count == 1
    assert s.course.provisioning is Provisioning.SPOT
    assert s.course.boot_disk.image_project == "deeplearning-platform-release"
    assert s.allowed_zones[0] == s.course.zone
    assert len(s.allowed_zones) == len(set(s.allowed_zones))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_flag_env_project_user_cloudsdk_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_COMPUTE_ZONE", "us-east1-b")
    assert load_settings().course.zone == "us-east1-b"

    _write(
        config_dir() / "config.toml",
        '[course]\nzone = "us-west1-a"\nmachine_type = "n1-standard-4"\n',
    )
    assert load_settings().course.zone == "us-west1-a"

    project = _write(tmp_path / "labctl.toml", '[course]\nzone = "europe-west1-b"\n')
    s = load_settings(config_file=project)
    assert s.course.zone == "europe-west1-b"
    assert s.course.machine_type == "n1-standard-4"  # lower layers still fill the rest

    monkeypatch.setenv("LABCTL_ZONE", "asia-east1-a")
    assert load_settings(config_file=project).course.zone == "asia-east1-a"

    assert load_settings(config_file=project, zone="us-central1-f").course.zone == "us-central1-f"


def test_project_file_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "labctl.toml", '[course]\nname = "cs-442"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings().course.name == "cs-442"


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_COURSE__GPU__COUNT", "2")
    monkeypatch.setenv("LABCTL_COURSE__FALLBACK_ZONES", "us-east1-b, us-east1-c")
    monkeypatch.setenv("LABCTL_PROJECT", "my-proj")
    s = load_settings()
    assert s.course.gpu.count == 2
    assert s.course.fallback_zones == ["us-east1-b", "us-east1-c"]
    assert s.gcp.project == "my-proj"


def test_bad_value_names_the_field_rule_value_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_COURSE__GPU__COUNT", "0")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert exc.value.message == "course.gpu.count: must be one of 1, 2, 4, 8, got 0"
    assert exc.value.hint == "set by environment (LABCTL_COURSE__GPU__COUNT)"
    assert exc.value.exit_code == 2


def test_unknown_and_mistyped_settings_in_a_file(tmp_path: Path) -> None:
    bad = _write(
        tmp_path / "labctl.toml",
        '[course]\nmachine_typ = "n1-standard-8"\nprovisioning = "cheap"\n',
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(config_file=bad)
    assert "course.machine_typ: unknown setting" in exc.value.message
    assert "course.provisioning: must be one of" in exc.value.message
    assert exc.value.hint == f"set by {bad}"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=_write(tmp_path / "x.toml", "[course\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=tmp_path / "missing.toml")


def test_course_name_and_labels_must_be_label_safe(tmp_path: Path) -> None:
    bad = _write(tmp_path / "l.toml", '[course]\nname = "CS 101"\n[course.labels]\nTeam = "a"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(config_file=bad)
    assert "course.name" in exc.value.message and "cs-101" in exc.value.message
    assert "course.labels" in exc.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[gcp]\nproject = "Bad Project!"\n', "gcp.project"),
        ('[gcp]\nproject = "../../x"\n', "gcp.project"),
        ('[course]\nfallback_zones = ["nope-zone"]\n', "course.fallback_zones"),
        ('[course]\nzone = "us-central1-c/../x"\n', "course.zone"),
        ("[course.gpu]\ncount = 3\n", "course.gpu.count"),
        ("[course.boot_disk]\nsize_gb = 99999999\n", "course.boot_disk.size_gb"),
        ("[course]\nssh_key_days = 3650\n", "course.ssh_key_days"),
        ('[course]\nmachine_type = ""\n', "course.machine_type"),
    ],
)
def test_every_value_that_reaches_a_url_or_the_api_is_checked(
    tmp_path: Path, text: str, field: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(config_file=_write(tmp_path / "c.toml", text))
    assert exc.value.message.startswith(f"{field}:"), exc.value.message
    assert exc.value.exit_code == 2


def test_project_ids_from_the_environment_and_flags_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABCTL_PROJECT", "demo/zones/us-central1-c/instances/alpha?x=")
    with pytest.raises(ConfigError, match=r"gcp\.project"):
        load_settings()
    monkeypatch.delenv("LABCTL_PROJECT")
    with pytest.raises(ConfigError, match=r"gcp\.project"):
        load_settings(project="../../x")
    assert load_settings(project="example.com:my-project").gcp.project == "example.com:my-project"


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "labctl.toml"
    bad.write_bytes('[course]\nname = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config_file=bad)


def test_config_dir_that_is_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.config import config_dir
    from labctl.errors import LocalError

    monkeypatch.setenv("LABCTL_CONFIG_DIR", str(_write(tmp_path / "f", "x")))
    with pytest.raises(LocalError, match="is a file, not a directory"):
        config_dir()
