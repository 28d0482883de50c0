"""class.toml: checked values, errors that name the file, line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from labctl.classroom.classfile import class_settings, load_class
from labctl.config import load_settings
from labctl.errors import InvalidInput, LocalError
from labctl.models import Provisioning

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "class.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "class.toml"
    path.write_text(text)
    return path


def test_the_example_loads_and_merges_with_the_course(tmp_path: Path) -> None:
    cf = load_class(EXAMPLE)
    assert cf.course == "cc-2026" and cf.ends == date(2026, 12, 20)
    assert cf.roster == EXAMPLE.parent / "roster.example.csv"
    assert cf.zones == ("us-central1-c", "us-central1-f", "us-east1-c")
    assert cf.buckets and cf.budget_usd == 50
    assert cf.schedule is not None and cf.schedule.timezone == "Europe/Zurich"
    settings = class_settings(cf, load_settings())
    course = settings.course
    assert (course.name, course.zone, course.fallback_zones) == (
        "cc-2026",
        "us-central1-c",
        ["us-central1-f", "us-east1-c"],
    )
    assert course.gpu.enabled and course.idle_shutdown_minutes == 30
    assert course.max_run_hours == 6 and course.provisioning is Provisioning.SPOT
    assert course.machine_type == "n1-standard-8"  # from the course defaults


def test_zones_default_to_the_course_configuration(tmp_path: Path) -> None:
    cf = load_class(write(tmp_path, '[class]\ncourse = "c1"\nends = 2026-12-20\n'))
    settings = class_settings(cf, load_settings())
    assert settings.allowed_zones == load_settings().allowed_zones
    assert not cf.buckets and cf.schedule is None and cf.budget_usd is None


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('[class]\ncourse = "CC 2026"\nends = 2026-12-20\n', "line 2", "class.course: use 1-32"),
        ('[class]\ncourse = "c1"\n', "class.toml", "class.ends: is required"),
        ('[class]\ncourse = "c1"\nends = "20.12.2026"\n', "line 3", "class.ends"),
        (
            '[class]\ncourse = "c1"\nends = 2026-12-20\nzones = ["us-central1"]\n',
            "line 4",
            "does not look like a zone",
        ),
        (
            '[class]\ncourse = "c1"\nends = 2026-12-20\n\n[class.budget]\nper_student_usd = 0\n',
            "line 6",
            "class.budget.per_student_usd",
        ),
        (
            '[class]\ncourse = "c1"\nends = 2026-12-20\n[class.schedule]\nstart = "9 * *"\n',
            "line 5",
            "not a unix-cron line",
        ),
        (
            '[class]\ncourse = "c1"\nends = 2026-12-20\n[class.schedule]\nstart = "0 9 * * 1"\n'
            'timezone = "Mars/Olympus"\n',
            "line 6",
            "not a time zone",
        ),
        ('[class]\ncourse = "c1"\nends = 2026-12-20\nroster_file = "x"\n', "line 4", "unknown"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, where: str, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_class(write(tmp_path, text))
    assert exc.value.exit_code == 2
    assert where in (exc.value.field or "") and says in exc.value.message


def test_vm_settings_are_checked_against_the_course_rules(tmp_path: Path) -> None:
    text = '[class]\ncourse = "c1"\nends = 2026-12-20\n\n[class.vm]\ngpu = { count = 3 }\n'
    cf = load_class(write(tmp_path, text))
    with pytest.raises(InvalidInput) as exc:
        class_settings(cf, load_settings())
    assert exc.value.field == "class.toml line 6"
    assert exc.value.message == "class.toml line 6: class.vm.gpu.count: must be one of 1, 2, 4, 8"
    text = '[class]\ncourse = "c1"\nends = 2026-12-20\n[class.vm]\ngpu_count = 2\n'
    with pytest.raises(InvalidInput, match=r"line 5: class\.vm\.gpu_count: unknown setting"):
        class_settings(load_class(write(tmp_path, text)), load_settings())
    text = '[class]\ncourse = "c1"\nends = 2026-12-20\n[class.vm]\nidle_shutdown_minutes = -1\n'
    with pytest.raises(InvalidInput, match=r"class\.vm\.idle_shutdown_minutes: Input should be"):
        class_settings(load_class(write(tmp_path, text)), load_settings())
    text = '[class]\ncourse = "c1"\nends = 2026-12-20\n[class.vm]\nzone = "us-east1-c"\n'
    with pytest.raises(InvalidInput, match=r"class\.vm\.zone is not a VM setting"):
        class_settings(load_class(write(tmp_path, text)), load_settings())


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(LocalError, match="class file not found"):
        load_class(tmp_path / "nope.toml")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_class(write(tmp_path, "[class\n"))
