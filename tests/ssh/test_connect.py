"""open_transport against a real sshd, ports that misbehave, and IAP through a fake gcloud."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.ssh.commands import connector
from labctl.ssh.connect import IapTarget, iap_proxy_command
from labctl.ssh.errors import (
    SshAuthFailed,
    SshConnectionClosed,
    SshConnectionRefused,
    SshNotSsh,
    SshProxyFailed,
    SshTimeout,
)
from labctl.ssh.hostkeys import fingerprint_sha256
from labctl.ssh.keys import ensure_key_pair
from tests.ssh.conftest import AccessFactory
from tests.ssh.servers import (
    GCLOUD_IAP_BRIDGE,
    GCLOUD_IAP_DENIED,
    FakeSshPort,
    SshServer,
    fake_gcloud,
    free_port,
)

pytestmark = pytest.mark.slow


def test_connects_verified_and_authenticated(make_access: AccessFactory) -> None:
    transport = connector(make_access())()
    try:
        assert transport.is_active() and transport.is_authenticated()
    finally:
        transport.close()


def test_refused_is_named_with_the_vm(make_access: AccessFactory) -> None:
    port = free_port()
    with pytest.raises(SshConnectionRefused) as info:
        connector(make_access(port=port))()
    assert info.value.message == f"127.0.0.1:{port} refused the connection"
    assert (info.value.kind, info.value.name, info.value.booting) == ("vm", "lab-vm", True)


@pytest.mark.parametrize(
    ("mode", "error", "text"),
    [
        ("silent", SshTimeout, "accepted the connection but sent no SSH banner within 1.0 s"),
        ("close", SshConnectionClosed, "closed the connection before sending an SSH banner"),
        # Before or just after the TCP connect reported success, depending on timing.
        ("reset", SshConnectionClosed, "reset the connection"),
        ("http", SshNotSsh, "does not speak SSH: it sent 'HTTP/1.1 400 Bad Request'"),
    ],
)
def test_each_handshake_failure_names_its_cause(
    make_access: AccessFactory, mode: str, error: type[Exception], text: str
) -> None:
    with FakeSshPort(mode) as server, pytest.raises(error) as info:
        connector(make_access(port=server.port))(1.0)
    assert str(info.value).startswith(f"127.0.0.1:{server.port} {text}")
    assert "No existing session" not in str(info.value)


def test_a_key_the_vm_does_not_know_is_an_auth_failure(
    make_access: AccessFactory, tmp_path: Path
) -> None:
    stranger = ensure_key_pair(tmp_path / "stranger")
    with pytest.raises(SshAuthFailed) as info:
        connector(make_access(identity=stranger.private_path))()
    assert fingerprint_sha256(stranger.pkey) in info.value.message
    assert info.value.name == "lab-vm" and info.value.hint is None  # the CLI adds the advice


def test_iap_failure_shows_what_gcloud_said(
    make_access: AccessFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    fake_gcloud(bin_dir, GCLOUD_IAP_DENIED)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    iap = IapTarget("lab-vm", "my-proj", "europe-west4-a")
    with pytest.raises(SshProxyFailed) as info:
        connector(make_access(iap=iap))(5.0)
    message = info.value.message
    assert "`gcloud compute start-iap-tunnel` exited with code 1" in message
    assert "gcloud: ERROR: (gcloud.compute.start-iap-tunnel) Error while connecting" in message
    assert info.value.output[-1].endswith("[4033: 'not authorized'].")
    assert "35.235.240.0/20" in (info.value.hint or "")


def test_iap_missing_gcloud(
    make_access: AccessFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud anywhere
    with pytest.raises(SshProxyFailed, match="cannot start `gcloud compute start-iap-tunnel`"):
        connector(make_access(iap=IapTarget("lab-vm", "p", "z")))(5.0)


def test_iap_tunnel_carries_the_session(
    make_access: AccessFactory, sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    fake_gcloud(bin_dir, GCLOUD_IAP_BRIDGE)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_IAP_PORT", str(sshd.port))
    transport = connector(make_access(iap=IapTarget("lab-vm", "p", "z")))()
    try:
        chan = transport.open_session(timeout=10)
        chan.exec_command("echo through-iap")
        assert chan.makefile().read().strip() == b"through-iap"
    finally:
        transport.close()


def test_iap_proxy_command() -> None:
    iap = IapTarget("lab-vm", "my-proj", "europe-west4-a")
    assert iap_proxy_command(iap) == (
        "gcloud compute start-iap-tunnel lab-vm 22 --listen-on-stdin "
        "--project my-proj --zone europe-west4-a --verbosity warning"
    )
