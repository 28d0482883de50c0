"""The roster: roster.csv read and checked, each problem named by file, line and column.

Columns: `email` (required), `name`, `role` (`student`, the default, or `ta`). Nothing is sent
before the whole file is valid. Slugs (the readable part of VM and bucket names) are assigned
in `assign_slugs`: stable when the roster is reordered or grows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import InvalidInput, LocalError
from labctl.naming import SLUG_MAX, student_slug

ROLES = ("student", "ta")
COLUMNS = ("email", "name", "role")
SUFFIX_HEX = 4  # a newcomer whose slug is taken gets "-" and this many hex digits of a hash
MAX_PROBLEMS_SHOWN = 10
# A practical e-mail check (what IAM will accept as user:EMAIL): one @, a dotted domain.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


def email_digest(email: str) -> str:
    """12 hex digits of SHA-256 of the lower-case e-mail: the `labctl-student` label value,
    which ties a VM or bucket to a roster line without putting the address in a label."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Member:
    email: str  # lower case
    name: str
    role: str  # "student" or "ta"
    line: int  # line number in the roster file

    @property
    def digest(self) -> str:
        return email_digest(self.email)

    @property
    def member(self) -> str:
        """The IAM principal: "user:ana.lopez@uni.edu"."""
        return f"user:{self.email}"


@dataclass(frozen=True)
class Roster:
    path: Path
    members: tuple[Member, ...]

    @property
    def students(self) -> list[Member]:
        return [m for m in self.members if m.role == "student"]

    @property
    def tas(self) -> list[Member]:
        return [m for m in self.members if m.role == "ta"]


@dataclass(frozen=True)
class _Problem:
    line: int
    column: str
    message: str


def load_roster(path: Path) -> Roster:
    """Read and check the whole file; InvalidInput (exit 2) listing every problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LocalError(f"roster not found: {path}", field="class.roster") from None
    except OSError as exc:
        raise LocalError(f"roster {path}: cannot read it ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError:
        raise LocalError(
            f"roster {path} is not UTF-8 text",
            field=f"{path.name} line 1",
            hint="save as CSV UTF-8",
        ) from None
    return parse_roster(text, path)


def parse_roster(text: str, path: Path) -> Roster:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    problems: list[_Problem] = []
    members: list[Member] = []
    seen: dict[str, int] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are allowed anywhere
        if header is None:
            header = _header(row, reader.line_num, problems)
            if header is None:
                break
            continue
        member = _member(
            dict(zip(header, row, strict=False)), row, header, reader.line_num, problems
        )
        if member is None:
            continue
        if member.email in seen:
            problems.append(
                _Problem(
                    member.line,
                    "email",
                    f"{member.email} is listed twice (first on line {seen[member.email]})",
                )
            )
            continue
        seen[member.email] = member.line
        members.append(member)
    if header is None and not problems:
        problems.append(_Problem(1, "email", "the file is empty: the first line must be a header"))
    if problems:
        raise _invalid(path, problems)
    return Roster(path, tuple(members))


def _header(row: list[str], line: int, problems: list[_Problem]) -> list[str] | None:
    names = [cell.strip().lower() for cell in row]
    unknown = [n for n in names if n not in COLUMNS]
    if "email" not in names:
        problems.append(_Problem(line, "header", "the header needs an 'email' column"))
    if unknown:
        problems.append(
            _Problem(
                line,
                "header",
                f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})",
            )
        )
    if len(set(names)) != len(names):
        problems.append(_Problem(line, "header", "a column appears twice"))
    return None if problems else names


def _member(
    cells: Mapping[str, str],
    row: list[str],
    header: list[str],
    line: int,
    problems: list[_Problem],
) -> Member | None:
    if len(row) > len(header):
        problems.append(_Problem(line, "row", f"{len(row)} values for {len(header)} columns"))
        return None
    email = (cells.get("email") or "").strip()
    role = (cells.get("role") or "").strip().lower() or "student"
    before = len(problems)
    if not email:
        problems.append(_Problem(line, "email", "no e-mail address"))
    elif not _EMAIL_RE.fullmatch(email):
        problems.append(_Problem(line, "email", f"{email!r} is not an e-mail address"))
    if role not in ROLES:
        problems.append(_Problem(line, "role", f"unknown role {role!r} (use {' or '.join(ROLES)})"))
    if len(problems) > before:
        return None
    return Member(email.lower(), (cells.get("name") or "").strip(), role, line)


def _invalid(path: Path, problems: list[_Problem]) -> InvalidInput:
    first = problems[0]
    lines = [f"{path.name} line {p.line}, {p.column}: {p.message}" for p in problems]
    if len(lines) == 1:
        message = lines[0]
    else:
        shown = lines[:MAX_PROBLEMS_SHOWN]
        more = len(lines) - len(shown)
        message = f"{len(lines)} problems in {path.name}:\n  " + "\n  ".join(shown)
        message += f"\n  ... and {more} more" if more else ""
    return InvalidInput(
        message,
        field=f"{path.name} line {first.line}",
        hint="nothing was sent; fix the roster and run the command again",
    )


# -- slugs -------------------------------------------------------------------------------------


def assign_slugs(students: Sequence[Member], known: Mapping[str, str]) -> dict[str, str]:
    """digest -> slug for every student.

    `known` holds the slugs already in the cloud (digest -> slug, from the labels): those never
    change. A newcomer gets the e-mail's local part made safe for names (`Ana.Lopez@uni.edu` ->
    `ana-lopez`); if that is taken, by someone in the cloud or by another newcomer whose e-mail
    sorts first, it gets a short hash suffix (`ana-lopez-3f9a`). The result depends only on the
    set of e-mails and the cloud, never on the order of the roster.
    """
    slugs = {m.digest: known[m.digest] for m in students if m.digest in known}
    taken = set(known.values())
    newcomers = sorted((m for m in students if m.digest not in known), key=lambda m: m.email)
    bases = {m.digest: student_slug(m.email) for m in newcomers}
    # Plain bases first, so that a newcomer's suffixed slug can never take another's base.
    for member in newcomers:
        base = bases[member.digest]
        if base not in taken:
            slugs[member.digest] = base
            taken.add(base)
    for member in newcomers:
        if member.digest not in slugs:
            slug = _suffixed(bases[member.digest], member.email, taken)
            slugs[member.digest] = slug
            taken.add(slug)
    return slugs


def _suffixed(base: str, email: str, taken: set[str]) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    for width in range(SUFFIX_HEX, len(digest)):
        head = base[: SLUG_MAX - width - 1].rstrip("-")
        slug = f"{head}-{digest[:width]}"
        if slug not in taken:
            return slug
    raise AssertionError("unreachable: a SHA-256 prefix always ends the collision")
