"""Host-key parsing, fingerprints, labctl's known_hosts and the verifier's decisions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from labctl.ssh.commands import vm_ssh_run
from labctl.ssh.errors import HostKeyChanged, HostKeyError, HostKeyMismatch, UnknownHostKey
from labctl.ssh.hostkeys import (
    HostKeyVerifier,
    KnownHosts,
    VerifyingPolicy,
    fingerprint_sha256,
    host_alias,
    key_from_blob,
    parse_guest_attribute_host_keys,
)
from labctl.ssh.keys import ensure_key_pair
from tests.ssh.conftest import AccessFactory
from tests.ssh.servers import SshServer

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


def test_host_key_errors_name_the_vm_and_no_labctl_command(
    tmp_path: Path, keys: dict[str, tuple[Path, paramiko.PKey]]
) -> None:
    ed, ed2 = keys["ed"][1], keys["ed2"][1]
    kh = KnownHosts(tmp_path / "known_hosts")
    errors: list[HostKeyError] = []
    for verifier, key in (
        (HostKeyVerifier(kh, ALIAS, vm_name="lab-vm"), ed),
        (HostKeyVerifier(kh, ALIAS, published={"ssh-ed25519": ed}, vm_name="lab-vm"), ed2),
    ):
        with pytest.raises(HostKeyError) as info:
            verifier.verify(key)
        errors.append(info.value)
    unknown, mismatch = errors
    assert isinstance(unknown, UnknownHostKey) and isinstance(mismatch, HostKeyMismatch)
    assert unknown.hint == (
        "compare it with the host keys in the VM's serial console output: "
        "gcloud compute instances get-serial-port-output lab-vm"
    )
    for error in errors:
        assert (error.kind, error.name) == ("vm", "lab-vm")
        assert "labctl " not in f"{error.message} {error.hint}"  # the CLI adds its own advice


# -- against a real sshd ------------------------------------------------------------------------


@pytest.mark.slow
def test_unknown_host_key_needs_consent(make_access: AccessFactory, sshd: SshServer) -> None:
    access = make_access(host_keys={})
    with pytest.raises(UnknownHostKey) as info:
        vm_ssh_run(access, "true")
    assert "SHA256:" in info.value.message and info.value.hint
    assert access.known_hosts.lookup(access.alias) == {}

    asked: list[str] = []
    with pytest.raises(UnknownHostKey):
        vm_ssh_run(
            make_access(host_keys={}, confirm_host_key=lambda q: asked.append(q) or False), "true"
        )
    assert "SHA256:" in asked[0]

    assert vm_ssh_run(make_access(host_keys={}, confirm_host_key=lambda q: True), "true") == 0
    assert access.known_hosts.lookup(access.alias)  # recorded
    assert vm_ssh_run(make_access(host_keys={}), "true") == 0  # and trusted from now on
    assert vm_ssh_run(make_access(host_keys={}, accept_new_host_key=True), "true") == 0


@pytest.mark.slow
def test_wrong_and_changed_host_keys_refused(
    make_access: AccessFactory, sshd: SshServer, tmp_path: Path
) -> None:
    other = ensure_key_pair(tmp_path / "other").pkey  # a valid ed25519 key that is not the host's
    wrong = make_access(host_keys={"ssh-ed25519": other.get_base64()}, accept_new_host_key=True)
    with pytest.raises(HostKeyMismatch):
        vm_ssh_run(wrong, "true")

    access = make_access()
    access.known_hosts.add(access.alias, [other])  # what we recorded earlier
    with pytest.raises(HostKeyChanged) as info:
        vm_ssh_run(make_access(accept_new_host_key=True), "true")
    assert info.value.hint and "ssh-keygen -R" in info.value.hint
    assert "guest attributes do list the new key" in info.value.message

    # paramiko's SSHClient with labctl's policy refuses an unknown key as well.
    client = paramiko.SSHClient()
    verifier = HostKeyVerifier(KnownHosts(tmp_path / "kh"), "compute.9")
    client.set_missing_host_key_policy(VerifyingPolicy(verifier))
    with pytest.raises(UnknownHostKey):
        client.connect(
            "127.0.0.1", sshd.port, pkey=other, allow_agent=False, look_for_keys=False, timeout=5
        )
    client.close()


@pytest.mark.slow
def test_published_host_keys_are_recorded(make_access: AccessFactory, sshd: SshServer) -> None:
    access = make_access()
    assert vm_ssh_run(access, "true") == 0
    recorded = access.known_hosts.lookup(access.alias)
    expected = key_from_blob("ssh-ed25519", sshd.host_public_keys["ssh-ed25519"])
    assert recorded["ssh-ed25519"][0].asbytes() == expected.asbytes()
