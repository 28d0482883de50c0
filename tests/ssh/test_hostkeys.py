"""Host-key parsing, fingerprints, labctl's known_hosts and the verifier's decisions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from labctl.ssh.errors import HostKeyChanged, HostKeyMismatch, UnknownHostKey
from labctl.ssh.hostkeys import (
    HostKeyVerifier,
    KnownHosts,
    fingerprint_sha256,
    host_alias,
    key_from_blob,
    parse_guest_attribute_host_keys,
)

ALIAS = host_alias(42)


def _keygen(tmp_path: Path, key_type: str, name: str) -> tuple[Path, paramiko.PKey]:
    path = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(path)], check=True, timeout=30
    )
    kt, blob = path.with_suffix(".pub").read_text().split()[:2]
    return path.with_suffix(".pub"), key_from_blob(kt, blob)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, paramiko.PKey]]:
    return {
        "ed": _keygen(tmp_path, "ed25519", "ed"),
        "ed2": _keygen(tmp_path, "ed25519", "ed2"),
        "ecdsa": _keygen(tmp_path, "ecdsa", "ec"),
    }


def test_fingerprint_matches_openssh(keys: dict[str, tuple[Path, paramiko.PKey]]) -> None:
    for pub, key in keys.values():
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert out.split()[1] == fingerprint_sha256(key)


def test_parse_guest_attributes(keys: dict[str, tuple[Path, paramiko.PKey]]) -> None:
    ed = keys["ed"][1]
    ec = keys["ecdsa"][1]
    parsed = parse_guest_attribute_host_keys(
        {
            "ssh-ed25519": ed.get_base64(),
            "hostkeys/ecdsa-sha2-nistp256": f"ecdsa-sha2-nistp256 {ec.get_base64()}",
            "ssh-rsa": "not base64 !!",
            "ssh-dss": ed.get_base64(),  # unsupported type: ignored
        }
    )
    assert set(parsed) == {"ssh-ed25519", "ecdsa-sha2-nistp256"}
    assert parsed["ssh-ed25519"].asbytes() == ed.asbytes()
    # An ed25519 blob filed under ssh-rsa is rejected, not trusted as something else.
    assert parse_guest_attribute_host_keys({"ssh-rsa": ed.get_base64()}) == {}


def test_known_hosts_roundtrip_readable_by_openssh(
    tmp_path: Path, keys: dict[str, tuple[Path, paramiko.PKey]]
) -> None:
    kh = KnownHosts(tmp_path / "kh" / "known_hosts")
    assert kh.lookup(ALIAS) == {}
    kh.add(ALIAS, [keys["ed"][1], keys["ecdsa"][1]])
    kh.add("compute.7", [keys["ed2"][1]])
    found = kh.lookup(ALIAS)
    assert set(found) == {"ssh-ed25519", "ecdsa-sha2-nistp256"}
    out = subprocess.run(
        ["ssh-keygen", "-F", ALIAS, "-f", str(kh.path)], capture_output=True, text=True, timeout=10
    )
    assert out.returncode == 0 and keys["ed"][1].get_base64() in out.stdout
    kh.add(ALIAS, [keys["ed2"][1]])  # replaces the ed25519 key only
    assert [k.asbytes() for k in kh.lookup(ALIAS)["ssh-ed25519"]] == [keys["ed2"][1].asbytes()]
    assert "ecdsa-sha2-nistp256" in kh.lookup(ALIAS)
    # The command the HostKeyChanged hint shows really removes the entry.
    subprocess.run(
        kh.remove_command(ALIAS), shell=True, check=True, timeout=10, capture_output=True
    )
    assert kh.lookup(ALIAS) == {} and "ssh-ed25519" in kh.lookup("compute.7")
    assert kh.remove("compute.7") == 1


def test_verifier_decisions(tmp_path: Path, keys: dict[str, tuple[Path, paramiko.PKey]]) -> None:
    ed, ed2, ec = keys["ed"][1], keys["ed2"][1], keys["ecdsa"][1]
    kh = KnownHosts(tmp_path / "known_hosts")

    with pytest.raises(UnknownHostKey) as unknown:
        HostKeyVerifier(kh, ALIAS).verify(ed, "10.0.0.1:22")
    assert fingerprint_sha256(ed) in unknown.value.message
    assert kh.lookup(ALIAS) == {}

    prompts: list[str] = []
    no = HostKeyVerifier(kh, ALIAS, confirm=lambda q: prompts.append(q) or False)
    with pytest.raises(UnknownHostKey):
        no.verify(ed)
    assert fingerprint_sha256(ed) in prompts[0] and "ED25519 key fingerprint is" in prompts[0]

    HostKeyVerifier(kh, ALIAS, confirm=lambda q: True).verify(ed)
    assert kh.lookup(ALIAS)["ssh-ed25519"][0].asbytes() == ed.asbytes()
    HostKeyVerifier(kh, ALIAS).verify(ed)  # now known: no consent needed

    with pytest.raises(HostKeyChanged) as changed:
        HostKeyVerifier(kh, ALIAS, accept_new=True).verify(ed2)
    assert "man in the middle" in changed.value.message
    assert changed.value.hint and f"ssh-keygen -R {ALIAS}" in changed.value.hint
    # A key type not on record yet is a new key, not a changed one.
    HostKeyVerifier(kh, ALIAS, accept_new=True).verify(ec)

    kh2 = KnownHosts(tmp_path / "known_hosts2")
    published = {"ssh-ed25519": ed}
    with pytest.raises(HostKeyMismatch):
        HostKeyVerifier(kh2, ALIAS, published=published, accept_new=True).verify(ed2)
    HostKeyVerifier(kh2, ALIAS, published=published).verify(ed)
    assert "ssh-ed25519" in kh2.lookup(ALIAS)
