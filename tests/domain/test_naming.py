from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labctl.errors import InvalidInput
from labctl.naming import (
    check_bucket_name,
    check_existing_bucket_name,
    check_instance_name,
    check_label,
    derive_bucket_name,
    parse_labels,
    student_slug,
    suggest_instance_name,
)

GCE_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize("name", ["a", "vm-1", "student-ana-gpu", "a" * 63])
def test_valid_instance_names(name: str) -> None:
    assert check_instance_name(name) == name


@pytest.mark.parametrize("name", ["", "1vm", "Vm", "vm-", "vm_1", "a" * 64, "vm.1"])
def test_invalid_instance_names_name_the_value_and_rule(name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_instance_name(name)
    assert repr(name) in exc.value.message
    assert "lowercase" in exc.value.message
    assert exc.value.exit_code == 2


@given(st.text(max_size=100))
def test_suggested_instance_name_is_always_valid(text: str) -> None:
    suggestion = suggest_instance_name(text)
    assert GCE_NAME.fullmatch(suggestion) and len(suggestion) <= 63


@given(st.emails())
def test_student_slug_is_stable_valid_and_domain_free(email: str) -> None:
    slug = student_slug(email)
    assert slug == student_slug(email.upper())
    assert GCE_NAME.fullmatch(slug) and len(slug) <= 30
    assert "@" not in slug


def test_long_local_parts_that_share_a_prefix_get_different_slugs() -> None:
    a = student_slug("averyveryverylongfirstname.lastname-one@uni.edu")
    b = student_slug("averyveryverylongfirstname.lastname-two@uni.edu")
    assert a != b and len(a) <= 30 and len(b) <= 30


@pytest.mark.parametrize(
    ("key", "value"),
    [("Course", "x"), ("1abc", "x"), ("k", "UPPER"), ("k", "a" * 64), ("", "x"), ("k", "a.b")],
)
def test_invalid_labels(key: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        check_label(key, value)


def test_parse_labels() -> None:
    assert parse_labels(["course=cs101", "empty="]) == {"course": "cs101", "empty": ""}
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_labels(["novalue"])


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3-63"),
        ("a" * 64, "3-63"),
        ("My-bucket", "lowercase"),
        ("-bucket", "start and end"),
        ("bucket_", "start and end"),
        ("goog-data", "goog"),
        ("my-google-data", "google"),
        ("my-g00gle-data", "google"),
        ("192.168.5.4", "dotted"),
        ("a.b.c", "dotted"),
    ],
)
def test_bucket_name_rules(name: str, rule: str) -> None:
    with pytest.raises(InvalidInput, match=rule):
        check_bucket_name(name)


def test_bucket_name_that_looks_like_an_ip_without_dots_is_accepted() -> None:
    assert check_bucket_name("1921685-4") == "1921685-4"


@pytest.mark.parametrize(
    "name",
    ["ok-1", "a_b-c", "abc", "x" * 63, "data.example.org", "a.b.c", ("p" * 63 + ".") * 3 + "end"],
)
def test_existing_bucket_names_may_have_dots(name: str) -> None:
    assert check_existing_bucket_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("BAD NAME", "lowercase"),
        ("ab", "3-63"),
        ("x" * 64, "3-63"),
        ("-ab", "start and end"),
        ("goog-data", "goog"),
        ("my-g00gle", "google"),
        ("192.168.5.4", "IP address"),
        ("a..b", "dot-separated part"),
        ("a." + "p" * 64, "dot-separated part"),
        ("a.b-", "starting and ending"),
        ("a." * 112 + "b", "3-222"),
        ("my.google.site", "google"),
        ("x/y", "lowercase"),
    ],
)
def test_existing_bucket_names_no_bucket_can_have_are_refused(name: str, rule: str) -> None:
    with pytest.raises(InvalidInput, match=rule):
        check_existing_bucket_name(name)


@given(st.text(max_size=120))
def test_derived_bucket_names_always_pass_every_rule(prefix: str) -> None:
    name = derive_bucket_name(prefix)
    assert check_bucket_name(name) == name


def test_derived_bucket_names_differ_and_keep_the_prefix() -> None:
    a, b = derive_bucket_name("cloud-course-ana"), derive_bucket_name("cloud-course-ana")
    assert a != b
    assert a.startswith("cloud-course-ana-")
