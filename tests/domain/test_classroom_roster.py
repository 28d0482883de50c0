"""The roster: every problem named by line and column; slugs stable as the roster changes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from labctl.classroom.roster import Member, assign_slugs, load_roster, parse_roster
from labctl.errors import InvalidInput, LocalError

PATH = Path("roster.csv")


def members(*emails: str) -> list[Member]:
    return [Member(e.lower(), "", "student", i + 2) for i, e in enumerate(emails)]


def test_columns_defaults_and_roles() -> None:
    roster = parse_roster(
        "Email,Name,Role\nAna.Lopez@Uni.edu,Ana López,\n\nbob@uni.edu,Bob,STUDENT\n"
        "tara@uni.edu,Tara,ta\n",
        PATH,
    )
    assert [(m.email, m.role, m.line) for m in roster.members] == [
        ("ana.lopez@uni.edu", "student", 2),
        ("bob@uni.edu", "student", 4),
        ("tara@uni.edu", "ta", 5),
    ]
    assert [m.email for m in roster.students] == ["ana.lopez@uni.edu", "bob@uni.edu"]
    assert roster.members[0].name == "Ana López" and roster.members[0].member.startswith("user:")


def test_duplicate_malformed_and_unknown_role_are_all_named() -> None:
    text = (
        "email,name,role\n"
        "ana@uni.edu,Ana,\n"
        "not-an-email,X,\n"
        "ANA@uni.edu,Ana again,\n"
        "bob@uni.edu,Bob,teacher\n"
        ",nobody,\n"
        "carl@uni,Carl,\n"
    )
    with pytest.raises(InvalidInput) as exc:
        parse_roster(text, PATH)
    message = exc.value.message
    assert exc.value.exit_code == 2 and exc.value.field == "roster.csv line 3"
    assert "5 problems in roster.csv" in message
    assert "roster.csv line 3, email: 'not-an-email' is not an e-mail address" in message
    assert "roster.csv line 4, email: ana@uni.edu is listed twice (first on line 2)" in message
    assert "roster.csv line 5, role: unknown role 'teacher' (use student or ta)" in message
    assert "roster.csv line 6, email: no e-mail address" in message
    assert "roster.csv line 7, email: 'carl@uni' is not an e-mail address" in message
    assert exc.value.hint and "nothing was sent" in exc.value.hint


def test_header_problems() -> None:
    with pytest.raises(InvalidInput, match="line 1, header: the header needs an 'email' column"):
        parse_roster("name,role\nAna,student\n", PATH)
    with pytest.raises(InvalidInput, match="unknown column 'mail'"):
        parse_roster("email,mail\na@b.co,x\n", PATH)
    with pytest.raises(InvalidInput, match="the file is empty"):
        parse_roster("\n\n", PATH)
    with pytest.raises(InvalidInput, match="line 2, row: 3 values for 2 columns"):
        parse_roster("email,name\na@b.co,A,extra\n", PATH)


def test_files_with_a_bom_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("\ufeffemail\nana@uni.edu\n".encode())
    assert [m.email for m in load_roster(path).members] == ["ana@uni.edu"]
    with pytest.raises(LocalError, match="roster not found"):
        load_roster(tmp_path / "missing.csv")
    path.write_bytes(b"email\n\xff\xfe@x.y\n")
    with pytest.raises(LocalError, match="not UTF-8"):
        load_roster(path)


def test_slug_is_the_local_part_made_safe() -> None:
    slugs = assign_slugs(members("Ana.Lopez@uni.edu", "1st.year@uni.edu"), {})
    assert sorted(slugs.values()) == ["ana-lopez", "s1st-year"]


def test_collisions_get_a_hash_suffix_whatever_the_order() -> None:
    emails = ["ana.lopez@uni.edu", "ana_lopez@other.edu", "ANA-LOPEZ@third.org", "bob@uni.edu"]
    first = assign_slugs(members(*emails), {})
    for seed in range(5):
        shuffled = emails[:]
        random.Random(seed).shuffle(shuffled)
        assert assign_slugs(members(*shuffled), {}) == first
    assert sorted(first.values())[0] == "ana-lopez"  # the smallest e-mail keeps the plain slug
    suffixed = [s for s in first.values() if s.startswith("ana-lopez-")]
    assert len(suffixed) == 2 and all(len(s) == len("ana-lopez-") + 4 for s in suffixed)
    assert len(set(first.values())) == 4


def test_an_existing_slug_never_changes_when_a_colliding_newcomer_arrives() -> None:
    """`known` comes from the cloud's labels: the student set up first keeps the plain slug,
    even if the newcomer's e-mail sorts first."""
    late = members("zz.ana.lopez@uni.edu")[0]
    first = members("ana.lopez@uni.edu")[0]
    known = {late.digest: "ana-lopez"}  # hypothetically the one created first
    slugs = assign_slugs([first, late], known)
    assert slugs[late.digest] == "ana-lopez"
    assert slugs[first.digest].startswith("ana-lopez-")
    # A student removed from the roster but still in the cloud keeps their slug taken too.
    gone = {"0123456789ab": "bob"}
    assert assign_slugs(members("bob@uni.edu"), gone)[members("bob@uni.edu")[0].digest] != "bob"
