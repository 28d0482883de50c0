"""`labctl tunnel jupyter|port` via the CLI: the fake provider, a real sshd and Jupyter."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.config import config_dir
from labctl.pricing import load_prices
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import jupyter as remote_jupyter
from labctl.ssh.hostkeys import KnownHosts
from labctl.ssh.keys import ensure_key_pair
from tests.cli import _ssh_vm
from tests.cli._ssh_vm import USER, VM, ZONE, Background, LabVm, add_vm, kept_logging
from tests.ssh.servers import (
    GCLOUD_IAP_DENIED,
    FakeSshPort,
    fake_gcloud,
    free_port,
    get,
    jupyter_list_command,
    stop_process,
)

servers, lab_vm = _ssh_vm.servers, _ssh_vm.lab_vm  # the fixtures this module uses


def test_jupyter_url_on_stdout_and_api_answers(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    port, token = free_port(), lab_vm.jupyter.token
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), "--open", *lab_vm.ssh_args]
    with Background(runner, args, app_context) as bg:
        assert bg.served_port([port], token) == port
        assert get(port, "/api/status") == 403  # the token is still required
    result = bg.done
    assert result.exit_code == 0, result.stderr
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    assert result.stdout == url + "\n"  # the one thing on stdout
    assert opened == [url]
    assert "press Ctrl-C" in result.stderr and token not in result.stderr
    assert KnownHosts.in_config_dir(config_dir()).path.exists()  # the host key was recorded


def test_closing_reminds_that_the_vm_still_runs_and_costs(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    port = free_port()
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    with Background(runner, args, app_context) as bg:
        bg.served_port([port], lab_vm.jupyter.token)
    result = bg.done
    assert result.exit_code == 0, result.stderr
    estimate = load_prices().vm_estimate(fake_compute.get_vm(VM, ZONE))
    assert estimate.usd_per_hour > 0
    assert result.stderr.splitlines()[-1] == (
        f"{VM} is still running (at {estimate}); stop it when you are done: labctl vm stop {VM}"
    )


def test_no_reminder_about_a_vm_that_stopped(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    port = free_port()
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    with Background(runner, args, app_context) as bg:
        bg.served_port([port], lab_vm.jupyter.token)
        fake_compute.stop_vm(VM, ZONE)  # idle shutdown, or the student in another terminal
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"{VM} is no longer running (TERMINATED)"
    assert "still running" not in result.stderr and "labctl vm stop" not in result.stderr


def test_json_busy_port_and_no_token_in_verbose_logs(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext
) -> None:
    token = lab_vm.jupyter.token
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        args = ["tunnel", "jupyter", VM, "--local-port", str(taken), *lab_vm.ssh_args]
        with Background(runner, [*args, "--format", "json", "-vv"], app_context) as bg:
            port = bg.served_port(range(taken + 1, taken + 21), token)
            # Any library that logs the URL or the bare token while the tunnel runs.
            chatty = logging.getLogger("tests.chatty_library")
            chatty.warning("GET http://127.0.0.1:%d/lab?token=%s", port, token)
            chatty.warning("bare %s", token)
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "url": f"http://127.0.0.1:{port}/lab?token={token}",
        "local_port": port,
        "remote_port": lab_vm.jupyter.port,
        "vm": VM,
        "zone": ZONE,
    }
    assert f"local port {taken} is in use; using {port} instead" in result.stderr
    assert "DEBUG paramiko" in result.stderr  # -vv did log the SSH session...
    assert token not in result.stderr  # ...without the token
    assert "/lab?token=***" in result.stderr and "bare ***" in result.stderr


def test_reconnect_is_reported(runner: CliRunner, lab_vm: LabVm, app_context: AppContext) -> None:
    port, token = free_port(), lab_vm.jupyter.token
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    with Background(runner, args, app_context) as bg:
        bg.served_port([port], token)
        assert lab_vm.sshd.kill_sessions()  # the VM drops the SSH connection
        # A request racing the drop may fail (a browser retries it); then the same port
        # serves again over a new connection.
        assert bg.served_port([port], token) == port
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert "SSH connection lost; reconnecting" in result.stderr
    assert "SSH connection re-established" in result.stderr


def test_port_forwards(runner: CliRunner, lab_vm: LabVm, app_context: AppContext) -> None:
    port, other, remote = free_port(), free_port(), lab_vm.jupyter.port
    forwards = [f"{port}:{remote}", f"{other}:127.0.0.1:{remote}"]
    with Background(runner, ["tunnel", "port", VM, *forwards, *lab_vm.ssh_args], app_context) as bg:
        bg.served_port([port], lab_vm.jupyter.token)
        bg.served_port([other], lab_vm.jupyter.token)
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"127.0.0.1:{port} -> localhost:{remote}",
        f"127.0.0.1:{other} -> 127.0.0.1:{remote}",
    ]


def test_unknown_host_key_refused_without_tty_accepted_with_flag(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    fake_compute.set_guest_attributes(VM, ZONE, {})  # guest attributes publish nothing
    port = free_port()
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    refused = runner.invoke(app, args, obj=app_context)
    assert refused.exit_code == 1
    error, hint = refused.stderr.splitlines()[-2:]  # one line plus the hint
    assert error.startswith("error: ") and "presented an unknown" in error and "SHA256:" in error
    assert hint == (
        "  compare it with the host keys in the VM's serial console output: gcloud compute "
        f"instances get-serial-port-output {VM}; rerun with --accept-new-host-key if you trust it"
    )
    assert refused.stdout == ""

    with Background(runner, [*args, "--accept-new-host-key"], app_context) as bg:
        bg.served_port([port], lab_vm.jupyter.token)
    assert bg.done.exit_code == 0, bg.done.stderr


def test_stopped_vm_is_one_line_with_the_fix(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    fake_compute.stop_vm(VM, ZONE)
    result = runner.invoke(app, ["tunnel", "jupyter", VM, *lab_vm.ssh_args], obj=app_context)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: VM {VM} is stopped (TERMINATED)",
        f"  start it first: labctl vm start {VM}",
    ]
    assert fake_compute.calls.count("instances.aggregatedList") == 1  # one list call


def test_no_external_ip_suggests_iap(
    runner: CliRunner, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    add_vm(fake_compute, ip=None)
    result = runner.invoke(app, ["tunnel", "port", VM, "6006:6006"], obj=app_context)
    assert result.exit_code == 1
    assert f"VM {VM} has no external IP address" in result.stderr
    assert f"labctl tunnel port {VM} 6006:6006 --iap" in result.stderr


def test_ssh_errors_are_one_line_with_advice(
    runner: CliRunner,
    lab_vm: LabVm,
    app_context: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stranger = ensure_key_pair(tmp_path / "stranger").private_path
    args = ["tunnel", "jupyter", VM, *lab_vm.ssh_args, "--identity", str(stranger)]
    auth = runner.invoke(app, args, obj=app_context)
    assert auth.exit_code == 1 and "Traceback" not in auth.stderr
    assert auth.stderr.splitlines()[-2].startswith("error: 127.0.0.1:")
    assert auth.stderr.splitlines()[-1] == f"  put your key on the VM: labctl ssh-key add {VM}"

    closed = free_port()
    args = ["tunnel", "jupyter", VM, "--user", USER, "--ssh-port", str(closed), "--wait", "0"]
    refused = runner.invoke(app, args, obj=app_context)
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-2:] == [
        f"error: 127.0.0.1:{closed} refused the connection",  # --wait 0: one attempt
        f"  the VM may still be booting; check it (labctl vm show {VM}) and retry",
    ]

    monkeypatch.setattr(remote_jupyter, "JUPYTER_LIST_COMMANDS", ("true",))
    args = ["tunnel", "jupyter", VM, *lab_vm.ssh_args, "--wait", "1"]
    missing = runner.invoke(app, args, obj=app_context)
    assert missing.exit_code == 1
    assert f"error: no Jupyter server is running on {VM} after " in missing.stderr
    assert (
        f"  look on the VM: labctl vm ssh {VM} -- sudo journalctl -u google-startup-scripts; "
        f"or its startup script may still be running"
    ) in missing.stderr


@pytest.fixture
def library_logging(tmp_path: Path) -> Iterator[Path]:
    """What can make paramiko print on its own: a handler it installs, a level on a child."""
    paramiko_logger = logging.getLogger("paramiko")
    transport_logger = logging.getLogger("paramiko.transport")
    handlers, levels = (
        list(paramiko_logger.handlers),
        (
            paramiko_logger.level,
            transport_logger.level,
        ),
    )
    log_file = tmp_path / "paramiko.log"
    paramiko.util.log_to_file(str(log_file))
    transport_logger.setLevel(logging.DEBUG)
    try:
        with kept_logging():
            yield log_file
    finally:
        for handler in paramiko_logger.handlers[len(handlers) :]:
            handler.close()
        paramiko_logger.handlers[:] = handlers
        paramiko_logger.setLevel(levels[0])
        transport_logger.setLevel(levels[1])


@pytest.mark.parametrize(
    ("mode", "flags", "expected"),
    [
        # All of --wait 2 (less the few ms the lookup took) went to the one attempt.
        ("silent", [], r"accepted the connection but sent no SSH banner within [12]\.\d s$"),
        ("silent", ["-q"], r"accepted the connection but sent no SSH banner within [12]\.\d s$"),
        ("close", [], r"closed the connection before sending an SSH banner \(gave up after \d+ "),
    ],
)
def test_a_vm_whose_ssh_never_answers_fails_quietly_and_truly(
    runner: CliRunner,
    app_context: AppContext,
    fake_compute: FakeCompute,
    library_logging: Path,
    mode: str,
    flags: list[str],
    expected: str,
) -> None:
    add_vm(fake_compute)
    with FakeSshPort(mode) as server:
        args = ["tunnel", "jupyter", VM, "--ssh-port", str(server.port), "--wait", "2", *flags]
        result = runner.invoke(app, args, obj=app_context)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert re.match(f"error: 127.0.0.1:{server.port} {expected}", lines[-2]), lines[-2]
    assert lines[-1] == f"  the VM may still be booting; check it (labctl vm show {VM}) and retry"
    assert lines[:-2] == (
        [] if "-q" in flags else [f"Connecting to {VM} and waiting for Jupyter..."]
    )
    assert "Traceback" not in result.stderr and "paramiko" not in result.stderr
    assert library_logging.read_text() == ""  # nor through paramiko's own handler


def test_iap_failure_shows_what_gcloud_said(
    runner: CliRunner,
    app_context: AppContext,
    fake_compute: FakeCompute,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_vm(fake_compute, ip=None)  # IAP needs no external IP
    fake_gcloud(tmp_path / "bin", GCLOUD_IAP_DENIED)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    args = ["tunnel", "jupyter", VM, "--iap", "--wait", "2"]
    result = runner.invoke(app, args, obj=app_context)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        f"error: the IAP tunnel to {VM} failed: `gcloud compute start-iap-tunnel` exited with "
        "code 1:",
        "  gcloud: WARNING: something unrelated",
        "  gcloud: ERROR: (gcloud.compute.start-iap-tunnel) Error while connecting [4033: 'not "
        "authorized'].",
        "  IAP TCP forwarding needs a firewall rule allowing tcp:22 from 35.235.240.0/20 and the "
        "IAP-secured Tunnel User role (roles/iap.tunnelResourceAccessor); see "
        "https://cloud.google.com/iap/docs/using-tcp-forwarding",
    ]


# Runs `labctl tunnel jupyter` in its own process on a fake provider set up from argv.
CTRL_C_PROBE = """
import json, sys
from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.models import VmSpec
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import jupyter, keys

cfg = json.loads(sys.argv[1])
keys.RESERVED_USERNAMES = frozenset()  # as in the lab_vm fixture: the tests may run as root
fake = FakeCompute()
fake.insert_vm(VmSpec("lab-vm", "us-central1-c", "n1-standard-8", "p", "f", 50), request_id="r")
fake.set_external_ip("lab-vm", "us-central1-c", "127.0.0.1")
fake.set_guest_attributes("lab-vm", "us-central1-c", {"hostkeys/ssh-ed25519": cfg["hostkey"]})
jupyter.JUPYTER_LIST_COMMANDS = (cfg["list_command"],)
app(cfg["args"], prog_name="labctl", obj=AppContext(providers=registry.fake(compute=fake)))
"""


def test_ctrl_c_closes_the_tunnel_and_exits_0(lab_vm: LabVm) -> None:
    port = free_port()
    cfg = {
        "hostkey": lab_vm.sshd.host_public_keys["ssh-ed25519"],
        "list_command": jupyter_list_command(),
        "args": [
            "tunnel",
            "jupyter",
            VM,
            "--local-port",
            str(port),
            "--wait",
            "20",
            *lab_vm.ssh_args,
        ],
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_PROBE, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # Bounded: the URL comes first, or the command gives up within its --wait.
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/lab?token={lab_vm.jupyter.token}"
        assert get(port, f"/api/status?token={lab_vm.jupyter.token}") == 200
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        stop_process(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0, err
    assert rest == ""  # stdout held the URL and nothing else
    assert "closing the tunnel" in err and "Traceback" not in err
    assert f"{VM} is still running" in err.splitlines()[-1]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 2):
        pass  # the listener is gone with the process
