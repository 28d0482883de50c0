"""Key pair creation, identity loading, the ssh-keys metadata format and the username rule."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labctl.ssh.errors import InvalidUsername, KeyFileError, SshKeysTooLarge
from labctl.ssh.keys import (
    default_key_path,
    default_username,
    ensure_key_pair,
    format_ssh_keys_entry,
    load_identity,
    merge_ssh_keys,
    parse_ssh_keys_entry,
    validate_username,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EXPIRE = datetime(2026, 12, 1, tzinfo=UTC)


def test_key_pair_created_private_and_reused(tmp_path: Path) -> None:
    old = os.umask(0)  # even with a permissive umask the key must be private
    try:
        pair = ensure_key_pair(tmp_path / "cfg")
    finally:
        os.umask(old)
    path = default_key_path(tmp_path / "cfg")
    assert pair.private_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert pair.public_openssh.startswith("ssh-ed25519 AAAA")
    assert path.with_name(path.name + ".pub").read_text().split()[:2] == pair.public_openssh.split()
    assert not list(path.parent.glob(".*tmp"))
    again = ensure_key_pair(tmp_path / "cfg")
    assert again.public_openssh == pair.public_openssh
    # OpenSSH reads the file too (vm ssh without a command execs `ssh -i`).
    out = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, timeout=10
    )
    assert out.stdout.split()[:2] == pair.public_openssh.split()


def test_load_identity_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_identity(tmp_path / "missing")

    pair = ensure_key_pair(tmp_path / "cfg")
    loose = tmp_path / "loose"
    loose.write_bytes(pair.private_path.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(KeyFileError, match="accessible by others") as info:
        load_identity(loose)
    assert info.value.hint == f"chmod 600 {loose}"

    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello\n")
    not_a_key.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a private key"):
        load_identity(not_a_key)

    encrypted = tmp_path / "encrypted"
    encrypted.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    encrypted.chmod(0o600)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_identity(encrypted)

    loose.chmod(0o600)
    assert load_identity(loose).public_openssh == pair.public_openssh


def test_entry_format_matches_gcloud() -> None:
    entry = format_ssh_keys_entry("alice", "ssh-ed25519 AAAAC3Nz old-comment", EXPIRE)
    assert entry == (
        'alice:ssh-ed25519 AAAAC3Nz google-ssh {"userName":"alice",'
        '"expireOn":"2026-12-01T00:00:00+0000"}'
    )
    meta = entry.split(" google-ssh ")[1]
    assert " " not in meta and json.loads(meta)["userName"] == "alice"
    parsed = parse_ssh_keys_entry(entry)
    assert parsed is not None and parsed.expire_on == EXPIRE and parsed.user_name == "alice"
    assert parse_ssh_keys_entry("garbage") is None


def test_merge_keeps_others_replaces_own_drops_expired() -> None:
    expired = format_ssh_keys_entry("bob", "ssh-ed25519 EXPIRED", NOW - timedelta(days=1))
    old_labctl = format_ssh_keys_entry("alice", "ssh-ed25519 OLDKEY", EXPIRE)
    gcloud = (
        'alice:ssh-rsa GCLOUD google-ssh {"userName":"alice@uni.edu",'
        '"expireOn":"2027-01-01T00:00:00+0000"}'
    )
    plain = "carol:ssh-ed25519 CAROL carol@laptop"
    odd = "a line labctl does not understand"
    existing = "\n".join([expired, old_labctl, gcloud, "", plain, odd]) + "\n"
    merged = merge_ssh_keys(existing, "alice", "ssh-ed25519 NEWKEY", expire_on=EXPIRE, now=NOW)
    lines = merged.splitlines()
    assert lines == [
        gcloud,
        plain,
        odd,
        format_ssh_keys_entry("alice", "ssh-ed25519 NEWKEY", EXPIRE),
    ]
    # Idempotent: merging the same key again changes nothing.
    again = merge_ssh_keys(merged, "alice", "ssh-ed25519 NEWKEY", expire_on=EXPIRE, now=NOW)
    assert again == merged


def test_merge_refuses_oversized_value() -> None:
    big = "\n".join(f"u{i}:ssh-ed25519 {'A' * 600} c" for i in range(500))
    with pytest.raises(SshKeysTooLarge):
        merge_ssh_keys(big, "alice", "ssh-ed25519 NEW", now=NOW)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("alice", "alice"),
        ("a_b-1", "a_b-1"),
        ("Alice", "student"),
        ("jöran", "student"),
        ("john doe", "student"),
        ("root", "student"),
        ("1abc", "student"),
        ("x" * 33, "student"),
    ],
)
def test_default_username(local: str, expected: str) -> None:
    assert default_username(local) == expected


def test_validate_username() -> None:
    assert validate_username("student") == "student"
    for bad in ("", "Bob", "root", "a b", "-x"):
        with pytest.raises(InvalidUsername):
            validate_username(bad)


def test_a_public_key_is_told_to_give_the_private_one(tmp_path: Path) -> None:
    pair = ensure_key_pair(tmp_path / "cfg")
    # A .pub next to its private key, readable by all as public keys are: no chmod advice.
    pub = pair.private_path.with_name(pair.private_path.name + ".pub")
    assert pub.stat().st_mode & 0o044
    with pytest.raises(KeyFileError) as info:
        load_identity(pub)
    assert info.value.message == f"{pub} is a public key; logging in needs the private key"
    assert info.value.hint == f"give {pair.private_path} instead (the private half of this key)"

    # A .pub whose private half is not there.
    alone = tmp_path / "laptop.pub"
    alone.write_text(pair.public_openssh + " me@laptop\n")
    with pytest.raises(KeyFileError) as info:
        load_identity(alone)
    assert info.value.hint == (
        f"its private half would be {tmp_path / 'laptop'}, which does not exist: "
        "give the private key"
    )

    # Public key content under any name is recognised too.
    named = tmp_path / "mykey"
    named.write_text(pair.public_openssh + "\n")
    named.chmod(0o644)
    with pytest.raises(KeyFileError, match="is a public key") as info:
        load_identity(named)
    assert "chmod" not in (info.value.hint or "")
