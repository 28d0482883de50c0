"""Runs scripts/startup_script.sh (and the idle check it writes) for real, unprivileged.

Every system command the scripts use is replaced by tests/scripts/stub_command.sh, linked under
each command's name into a directory put first on PATH; LABCTL_ROOT points the script's /opt,
/etc/systemd/system, /home and /run at a temporary directory and METADATA_URL at a fake
metadata server answered by the curl stub.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "startup_script.sh"
STUB_SOURCE = Path(__file__).with_name("stub_command.sh")
METADATA_URL = "http://metadata.test/computeMetadata/v1"
STUBBED = (
    "curl", "python3", "python", "pip", "nvidia-smi", "lspci", "systemctl", "shutdown", "who",
    "useradd", "getent", "chown", "modprobe", "ubuntu-drivers", "apt-get",
)  # fmt: skip
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """Format a time the way jupyter_server does (isoformat with a Z suffix)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Sandbox:
    base: Path
    root: Path = field(init=False)
    stubs: Path = field(init=False)
    bin: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.base / "root"
        self.stubs = self.base / "stubs"
        self.bin = self.base / "bin"
        for d in (self.root / "home", self.stubs / "meta", self.stubs / "jupyter", self.bin):
            d.mkdir(parents=True, exist_ok=True)
        (self.stubs / "fail").mkdir()
        stub = self.base / "stub.sh"
        shutil.copyfile(STUB_SOURCE, stub)
        stub.chmod(0o755)
        for name in STUBBED:
            (self.bin / name).symlink_to(stub)
        self.passwd("alice", 1001)
        self.jupyter_api("status", {"started": iso(NOW), "last_activity": iso(NOW)})

    # --- paths the script writes -------------------------------------------------------
    @property
    def labctl(self) -> Path:
        return self.root / "opt" / "labctl"

    @property
    def token_file(self) -> Path:
        return self.labctl / "jupyter-token"

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    @property
    def idle_script(self) -> Path:
        return self.labctl / "idle-check.sh"

    # --- stub configuration ------------------------------------------------------------
    def meta(self, key: str, value: str) -> None:
        (self.stubs / "meta" / key).write_text(value)

    def passwd(self, name: str, uid: int) -> None:
        home = self.root / "home" / name
        home.mkdir(exist_ok=True)
        with (self.stubs / "passwd").open("a") as f:
            f.write(f"{name}:x:{uid}:{uid}::{home}:/bin/bash\n")

    def gpu(self, driver_installed: bool) -> None:
        (self.stubs / "lspci.txt").write_text(
            "00:04.0 3D controller: NVIDIA Corporation GP100GL [Tesla P100 PCIe 16GB] (rev a1)\n"
        )
        if driver_installed:
            (self.stubs / "driver-installed").touch()
        installer = self.root / "opt" / "deeplearning" / "install-driver.sh"
        installer.parent.mkdir(parents=True, exist_ok=True)
        if not installer.exists():
            installer.symlink_to(self.base / "stub.sh")

    def cpu(self) -> None:
        (self.stubs / "lspci.txt").write_text(
            "00:00.0 Host bridge: Intel Corporation 440FX - 82441FX PMC [Natoma] (rev 02)\n"
        )

    def fail(self, command: str) -> None:
        (self.stubs / "fail" / command).touch()

    def jupyter_api(self, name: str, body: object) -> None:
        (self.stubs / "jupyter" / f"api_{name}.json").write_text(json.dumps(body))

    # --- running -----------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.base),
            "LANG": "C.UTF-8",
            "STUB_DIR": str(self.stubs),
            "STUB_TOKEN_FILE": str(self.token_file),
            "LABCTL_ROOT": str(self.root),
            "METADATA_URL": METADATA_URL,
            "LABCTL_GA_PAUSE": "0",
            "LABCTL_READY_TIMEOUT": "4",
        }
        env.update(extra)
        return env

    def boot(self, **env: str) -> subprocess.CompletedProcess[str]:
        """Run the startup script once, as on one boot; clears the call logs first."""
        self.reset_logs()
        return subprocess.run(
            ["bash", str(SCRIPT)],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def reset_logs(self) -> None:
        for name in ("calls.log", "guest-attributes.log", "jupyter-auth.log"):
            (self.stubs / name).unlink(missing_ok=True)

    def calls(self, cmd: str) -> list[list[str]]:
        """Argument lists of every call of stub command CMD, oldest first."""
        entries = [line.split("\x1f") for line in self.raw_calls().splitlines()]
        return [e[1:] for e in entries if e[0] == cmd]

    def raw_calls(self) -> str:
        log = self.stubs / "calls.log"
        return log.read_text() if log.exists() else ""

    def jupyter_auth(self) -> list[str]:
        """'api_NAME verdict' per Jupyter API call; verdict is ok, bad or missing."""
        log = self.stubs / "jupyter-auth.log"
        return log.read_text().splitlines() if log.exists() else []

    def guest_attributes(self) -> list[str]:
        log = self.stubs / "guest-attributes.log"
        return log.read_text().splitlines() if log.exists() else []

    def statuses(self) -> list[str]:
        prefix = "labctl/status="
        return [a.removeprefix(prefix) for a in self.guest_attributes() if a.startswith(prefix)]


def pip_installs(box: Sandbox) -> list[list[str]]:
    return [args for args in box.calls("pip") if args[:1] == ["install"]]


def driver_installs(box: Sandbox) -> list[list[str]]:
    return box.calls("install-driver.sh")


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


# --------------------------------------------------------------------------------------------
# static checks


def shellcheck(path: Path) -> None:
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = subprocess.run(
        [exe, "--severity=style", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_startup_script() -> None:
    shellcheck(SCRIPT)


def test_shellcheck_generated_idle_check(box: Sandbox) -> None:
    box.cpu()
    assert_ok(box.boot())
    shellcheck(box.idle_script)


def test_bash_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


# --------------------------------------------------------------------------------------------
# boots


def test_first_boot_gpu_without_driver(box: Sandbox) -> None:
    box.gpu(driver_installed=False)
    box.meta("labctl-user", "alice")
    box.meta("labctl-idle-minutes", "45")
    proc = box.boot()
    assert_ok(proc)

    # driver installed through the Deep Learning VM installer, then verified
    assert len(driver_installs(box)) == 1
    assert (box.stubs / "driver-installed").exists()

    # venv created, JupyterLab installed into it
    venv = box.labctl / "jupyter-venv"
    assert box.calls("python3") == [["-m", "venv", "--clear", str(venv)]]
    installs = pip_installs(box)
    assert len(installs) == 1
    assert any(a.startswith("jupyterlab") for a in installs[0])
    assert not any("torch" in a for a in installs[0])

    # unit bound to loopback:8888, running as alice with the token file
    unit = (box.units / "labctl-jupyter.service").read_text()
    assert "--ServerApp.ip=127.0.0.1" in unit
    assert "--ServerApp.port=8888" in unit
    assert "--ServerApp.port_retries=0" in unit
    assert "0.0.0.0" not in unit
    assert "User=alice\n" in unit
    assert f"Environment=JUPYTER_TOKEN_FILE={box.token_file}\n" in unit
    assert f"ExecStart={venv}/bin/jupyter-lab " in unit

    systemctl = box.calls("systemctl")
    assert ["daemon-reload"] in systemctl
    assert ["enable", "labctl-jupyter.service"] in systemctl
    assert ["restart", "labctl-jupyter.service"] in systemctl
    assert ["enable", "labctl-idle-check.timer"] in systemctl
    enable = systemctl.index(["enable", "labctl-jupyter.service"])
    assert systemctl.index(["daemon-reload"]) < enable

    # token: 64 hex chars, 0600, owned by alice, never printed or published
    token = box.token_file.read_text()
    assert len(token) == 64 and all(c in "0123456789abcdef" for c in token)
    assert stat.S_IMODE(box.token_file.stat().st_mode) == 0o600
    assert ["alice:1001", str(box.token_file)] in box.calls("chown")
    assert token not in proc.stdout + proc.stderr
    assert token not in box.raw_calls()
    assert all(token not in a for a in box.guest_attributes())
    assert token not in (box.labctl / "idle-check.env").read_text()

    # the readiness check sent the token (on curl's stdin, not its command line)
    assert box.jupyter_auth() == ["api_status ok"]

    assert box.statuses() == ["installing", "ready"]
    assert "labctl/jupyter-port=8888" in box.guest_attributes()
    assert "labctl/jupyter-user=alice" in box.guest_attributes()

    # idle check installed with the configured default
    assert os.access(box.idle_script, os.X_OK)
    env_file = (box.labctl / "idle-check.env").read_text()
    assert "LABCTL_IDLE_MINUTES_DEFAULT=45\n" in env_file
    timer = (box.units / "labctl-idle-check.timer").read_text()
    assert "OnUnitActiveSec=" in timer

    # every log line carries a timestamp
    for line in proc.stdout.splitlines():
        if "labctl-startup:" in line:
            datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%SZ")


def test_second_boot_changes_nothing(box: Sandbox) -> None:
    box.gpu(driver_installed=False)
    box.meta("labctl-user", "alice")
    assert_ok(box.boot())
    token = box.token_file.read_text()
    unit = (box.units / "labctl-jupyter.service").read_text()

    proc = box.boot()
    assert_ok(proc)
    assert driver_installs(box) == []
    assert box.calls("python3") == []
    assert pip_installs(box) == []
    systemctl = box.calls("systemctl")
    assert ["daemon-reload"] not in systemctl
    assert ["restart", "labctl-jupyter.service"] not in systemctl
    assert ["enable", "--now", "labctl-jupyter.service"] in systemctl
    assert ["enable", "--now", "labctl-idle-check.timer"] in systemctl
    assert box.token_file.read_text() == token
    assert (box.units / "labctl-jupyter.service").read_text() == unit
    assert box.statuses() == ["installing", "ready"]
    assert token not in proc.stdout + proc.stderr


def test_gpu_with_driver_present_skips_install(box: Sandbox) -> None:
    box.gpu(driver_installed=True)
    assert_ok(box.boot())
    assert driver_installs(box) == []
    assert box.calls("nvidia-smi")


def test_gpu_forced_by_metadata(box: Sandbox) -> None:
    box.cpu()
    box.meta("labctl-gpu", "true")
    box.gpu(driver_installed=False)
    (box.stubs / "lspci.txt").unlink()
    assert_ok(box.boot())
    assert len(driver_installs(box)) == 1


def test_cpu_vm_has_no_driver_step(box: Sandbox) -> None:
    box.cpu()
    proc = box.boot()
    assert_ok(proc)
    assert box.calls("nvidia-smi") == []
    assert driver_installs(box) == []
    assert "no NVIDIA GPU detected" in proc.stdout
    assert box.statuses() == ["installing", "ready"]


def test_pytorch_cu126_behind_metadata_flag(box: Sandbox) -> None:
    box.gpu(driver_installed=True)
    box.meta("labctl-install-pytorch", "true")
    assert_ok(box.boot())
    torch = [a for a in pip_installs(box) if "torch" in a]
    assert len(torch) == 1
    assert "https://download.pytorch.org/whl/cu126" in torch[0]
    assert_ok(box.boot())
    assert pip_installs(box) == []


def test_pytorch_cpu_index_on_cpu_vm(box: Sandbox) -> None:
    box.cpu()
    box.meta("labctl-install-pytorch", "true")
    assert_ok(box.boot())
    torch = [a for a in pip_installs(box) if "torch" in a]
    assert len(torch) == 1 and "https://download.pytorch.org/whl/cpu" in torch[0]


# --------------------------------------------------------------------------------------------
# choosing the account


def test_default_user_is_lowest_uid_home_account(box: Sandbox) -> None:
    box.cpu()
    box.passwd("bob", 1000)
    box.passwd("nobody2", 65534)
    assert_ok(box.boot())
    assert "User=bob\n" in (box.units / "labctl-jupyter.service").read_text()
    assert box.calls("useradd") == []


def test_default_user_created_when_home_is_empty(box: Sandbox) -> None:
    box.cpu()
    (box.stubs / "passwd").write_text("")
    shutil.rmtree(box.root / "home" / "alice")
    assert_ok(box.boot())
    assert len(box.calls("useradd")) == 1 and box.calls("useradd")[0][-1] == "jupyter"
    assert "User=jupyter\n" in (box.units / "labctl-jupyter.service").read_text()
    # a later boot keeps the same account even when another one appears in /home
    box.passwd("aaron", 1005)
    assert_ok(box.boot())
    assert box.calls("useradd") == []
    assert ["daemon-reload"] not in box.calls("systemctl")


def test_metadata_user_created_if_missing(box: Sandbox) -> None:
    box.cpu()
    box.meta("labctl-user", "carol")
    assert_ok(box.boot())
    assert box.calls("useradd")[0][-1] == "carol"
    assert "User=carol\n" in (box.units / "labctl-jupyter.service").read_text()


@pytest.mark.parametrize("name", ["root", "Bad;Name", "-x"])
def test_invalid_user_is_an_error(box: Sandbox, name: str) -> None:
    box.cpu()
    box.meta("labctl-user", name)
    proc = box.boot()
    assert proc.returncode != 0
    assert box.statuses() == ["installing", "error:user"]


def test_changed_user_rewrites_unit_and_keeps_token(box: Sandbox) -> None:
    box.cpu()
    box.passwd("bob", 1002)
    box.meta("labctl-user", "alice")
    assert_ok(box.boot())
    token = box.token_file.read_text()
    box.meta("labctl-user", "bob")
    assert_ok(box.boot())
    systemctl = box.calls("systemctl")
    assert ["daemon-reload"] in systemctl
    assert ["restart", "labctl-jupyter.service"] in systemctl
    assert box.token_file.read_text() == token
    assert ["bob:1002", str(box.token_file)] in box.calls("chown")


# --------------------------------------------------------------------------------------------
# failures


def test_pip_failure_reports_error_step(box: Sandbox) -> None:
    box.cpu()
    box.fail("pip")
    proc = box.boot()
    assert proc.returncode != 0
    assert box.statuses() == ["installing", "error:jupyterlab"]
    assert "FAILED at step jupyterlab" in proc.stdout
    assert not (box.units / "labctl-jupyter.service").exists()
    assert not any(a[:1] == ["enable"] for a in box.calls("systemctl"))


def test_driver_that_does_not_load_reports_error(box: Sandbox) -> None:
    box.gpu(driver_installed=False)
    box.fail("install-driver.sh")
    proc = box.boot()
    assert proc.returncode != 0
    assert box.statuses() == ["installing", "error:gpu-driver"]
    assert box.calls("pip") == []


def test_gpu_without_any_installer_reports_error(box: Sandbox) -> None:
    box.gpu(driver_installed=False)
    (box.root / "opt" / "deeplearning" / "install-driver.sh").unlink()
    (box.bin / "ubuntu-drivers").unlink()
    proc = box.boot()
    assert proc.returncode != 0
    assert box.statuses()[-1] == "error:gpu-driver"


def test_jupyter_not_answering_reports_error(box: Sandbox) -> None:
    box.cpu()
    (box.stubs / "jupyter" / "api_status.json").unlink()
    start = time.monotonic()
    proc = box.boot(LABCTL_READY_TIMEOUT="0")
    assert proc.returncode != 0
    assert box.statuses()[-1] == "error:jupyter-ready"
    assert time.monotonic() - start < 30


def test_second_boot_after_failure_resumes(box: Sandbox) -> None:
    box.cpu()
    box.fail("pip")
    assert box.boot().returncode != 0
    (box.stubs / "fail" / "pip").unlink()
    assert_ok(box.boot())
    assert box.calls("python3") == []  # venv from the failed boot is reused
    assert len(pip_installs(box)) == 1
    assert box.statuses() == ["installing", "ready"]


def test_missing_guest_attribute_support_is_not_fatal(box: Sandbox) -> None:
    box.cpu()
    (box.stubs / "guest-attributes-disabled").touch()
    proc = box.boot()
    assert_ok(proc)
    assert "could not write guest attribute labctl/status" in proc.stdout
    assert (box.units / "labctl-jupyter.service").exists()


# --------------------------------------------------------------------------------------------
# idle check


@pytest.fixture(scope="module")
def idle_check_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The idle check as a first boot writes it (generated once for all idle tests)."""
    box = Sandbox(tmp_path_factory.mktemp("idle-boot"))
    box.cpu()
    assert_ok(box.boot())
    return box.idle_script.read_text()


@pytest.fixture
def idle(box: Sandbox, idle_check_text: str) -> IdleCheck:
    box.labctl.mkdir(parents=True)
    box.idle_script.write_text(idle_check_text)
    box.token_file.write_text("5e" * 32)
    return IdleCheck(box)


@dataclass
class IdleCheck:
    box: Sandbox

    @property
    def state(self) -> Path:
        return self.box.base / "run-labctl"

    def last_active(self, ago: timedelta) -> None:
        self.state.mkdir(exist_ok=True)
        (self.state / "idle-last-active").write_text(f"{int((NOW - ago).timestamp())}\n")

    def kernels(self, *kernels: tuple[str, timedelta]) -> None:
        self.box.jupyter_api(
            "kernels",
            [
                {
                    "id": f"k{i}",
                    "name": "python3",
                    "last_activity": iso(NOW - ago),
                    "execution_state": state,
                    "connections": 1,
                }
                for i, (state, ago) in enumerate(kernels)
            ],
        )

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        settings = {
            "LABCTL_DIR": str(self.box.labctl),
            "LABCTL_TOKEN_FILE": str(self.box.token_file),
            "LABCTL_IDLE_STATE_DIR": str(self.state),
            "LABCTL_IDLE_MINUTES_DEFAULT": "60",
            "LABCTL_NOW": str(int(NOW.timestamp())),
        }
        return subprocess.run(
            ["bash", str(self.box.idle_script)],
            env=self.box.env(**{**settings, **env}),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def shutdowns(self) -> list[list[str]]:
        return self.box.calls("shutdown")


def test_idle_busy_kernel_prevents_shutdown(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=3))
    idle.kernels(("busy", timedelta(hours=2)))
    proc = idle.run()
    assert_ok(proc)
    assert idle.shutdowns() == []
    assert "kernel is busy" in proc.stdout
    # the busy kernel reset the idle clock
    assert (idle.state / "idle-last-active").read_text().strip() == str(int(NOW.timestamp()))


def test_idle_too_long_shuts_down(idle: IdleCheck) -> None:
    idle.last_active(timedelta(minutes=90))
    idle.kernels(("idle", timedelta(minutes=75)), ("idle", timedelta(minutes=61)))
    proc = idle.run()
    assert_ok(proc)
    assert idle.shutdowns() == [["-h", "now"]]
    assert "idle for 61 min (limit 60 min): shutting down" in proc.stdout
    kernel_calls = [c for c in idle.box.calls("curl") if any("/api/kernels" in a for a in c)]
    assert kernel_calls and all("no_track_activity=1" in " ".join(c) for c in kernel_calls)
    token = idle.box.token_file.read_text()
    assert token not in idle.box.raw_calls()
    assert token not in proc.stdout + proc.stderr
    assert idle.box.jupyter_auth() == ["api_kernels ok", "api_terminals ok"]


def test_idle_recent_kernel_activity_prevents_shutdown(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=5))
    idle.kernels(("idle", timedelta(hours=4)), ("idle", timedelta(minutes=10)))
    proc = idle.run()
    assert_ok(proc)
    assert idle.shutdowns() == []
    assert "idle for 10 of 60 min" in proc.stdout


def test_idle_recent_terminal_activity_prevents_shutdown(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=5))
    idle.kernels()
    recent = iso(NOW - timedelta(minutes=5))
    idle.box.jupyter_api("terminals", [{"name": "1", "last_activity": recent}])
    assert_ok(idle.run())
    assert idle.shutdowns() == []


def test_idle_logged_in_user_prevents_shutdown(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=3))
    idle.kernels(("idle", timedelta(hours=3)))
    (idle.box.stubs / "who.txt").write_text("alice    pts/0        2025-03-01 09:00 (10.0.0.2)\n")
    proc = idle.run()
    assert_ok(proc)
    assert idle.shutdowns() == []
    assert "1 login session(s) open" in proc.stdout


def test_idle_busy_gpu_prevents_shutdown(idle: IdleCheck) -> None:
    idle.box.gpu(driver_installed=True)
    (idle.box.stubs / "gpu-util.txt").write_text("87\n")
    idle.last_active(timedelta(hours=3))
    idle.kernels()
    assert_ok(idle.run())
    assert idle.shutdowns() == []


@pytest.mark.parametrize("source", ["metadata", "default"])
def test_idle_zero_minutes_disables(idle: IdleCheck, source: str) -> None:
    idle.last_active(timedelta(days=3))
    idle.kernels(("idle", timedelta(days=3)))
    if source == "metadata":
        idle.box.meta("labctl-idle-minutes", "0")
        proc = idle.run()
    else:
        proc = idle.run(LABCTL_IDLE_MINUTES_DEFAULT="0")
    assert_ok(proc)
    assert idle.shutdowns() == []
    assert "disabled" in proc.stdout


def test_idle_metadata_overrides_default(idle: IdleCheck) -> None:
    idle.last_active(timedelta(minutes=40))
    idle.kernels(("idle", timedelta(minutes=40)))
    assert_ok(idle.run())
    assert idle.shutdowns() == []
    idle.box.meta("labctl-idle-minutes", "30")
    assert_ok(idle.run())
    assert idle.shutdowns() == [["-h", "now"]]


def test_idle_first_check_after_boot_starts_clock(idle: IdleCheck) -> None:
    idle.kernels(("idle", timedelta(days=2)))
    proc = idle.run()
    assert_ok(proc)
    assert idle.shutdowns() == []
    assert "idle clock started" in proc.stdout
    assert (idle.state / "idle-last-active").exists()


def test_idle_jupyter_unreachable_falls_back_to_clock(idle: IdleCheck) -> None:
    idle.last_active(timedelta(minutes=61))
    proc = idle.run()  # no api_kernels.json: connection refused
    assert_ok(proc)
    assert "not reachable" in proc.stdout
    assert idle.shutdowns() == [["-h", "now"]]


def last_active_reports(idle: IdleCheck) -> list[str]:
    prefix = "labctl/last-active="
    return [a.removeprefix(prefix) for a in idle.box.guest_attributes() if a.startswith(prefix)]


def test_idle_check_reports_last_activity_for_cleanup(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=5))
    idle.kernels(("idle", timedelta(hours=4)), ("idle", timedelta(minutes=10)))
    assert_ok(idle.run())
    # the newest kernel activity, in RFC 3339 UTC: what `labctl cleanup` reads
    assert last_active_reports(idle) == [iso(NOW - timedelta(minutes=10)).split(".")[0] + "Z"]


def test_an_idle_stop_says_so_before_shutting_down(idle: IdleCheck) -> None:
    """`labctl vm show` tells an idle stop from a preemption by these two attributes."""
    idle.last_active(timedelta(minutes=90))
    assert_ok(idle.run())
    written = idle.box.guest_attributes()
    assert "labctl/stopped-by=idle" in written
    assert "labctl/stopped-at=2025-03-01T12:00:00Z" in written
    idle.last_active(timedelta(minutes=5))
    before = len(idle.box.guest_attributes())
    assert_ok(idle.run())
    assert not any("stopped-by" in a for a in idle.box.guest_attributes()[before:])


def test_idle_check_reports_now_when_active(idle: IdleCheck) -> None:
    idle.last_active(timedelta(hours=3))
    idle.kernels(("busy", timedelta(hours=2)))
    assert_ok(idle.run())
    assert last_active_reports(idle) == ["2025-03-01T12:00:00Z"]


def test_idle_check_reports_before_shutting_down(idle: IdleCheck) -> None:
    idle.last_active(timedelta(minutes=90))
    idle.kernels(("idle", timedelta(minutes=75)))
    assert_ok(idle.run())
    assert last_active_reports(idle) == ["2025-03-01T10:45:00Z"]
    assert idle.shutdowns() == [["-h", "now"]]


def test_idle_check_reports_even_with_shutdown_disabled(idle: IdleCheck) -> None:
    idle.last_active(timedelta(days=3))
    idle.kernels(("idle", timedelta(days=3)))
    proc = idle.run(LABCTL_IDLE_MINUTES_DEFAULT="0")
    assert_ok(proc)
    assert last_active_reports(idle) == ["2025-02-26T12:00:00Z"]
    assert idle.shutdowns() == [] and "disabled" in proc.stdout


def test_idle_check_without_guest_attributes_still_works(idle: IdleCheck) -> None:
    (idle.box.stubs / "guest-attributes-disabled").touch()
    idle.last_active(timedelta(minutes=61))
    idle.kernels(("idle", timedelta(minutes=61)))
    proc = idle.run()
    assert_ok(proc)
    assert "could not write guest attribute labctl/last-active" in proc.stdout
    assert idle.shutdowns() == [["-h", "now"]]


def test_idle_wrong_token_is_not_trusted(idle: IdleCheck) -> None:
    idle.last_active(timedelta(minutes=10))
    idle.kernels(("idle", timedelta(minutes=1)))
    idle.box.token_file.write_text("0" * 64)
    proc = idle.run(STUB_TOKEN_FILE=str(idle.box.base / "other-token"))
    assert_ok(proc)
    assert idle.box.jupyter_auth() == ["api_kernels bad"]
    assert idle.shutdowns() == []


# --------------------------------------------------------------------------------------------
# idle check against a real jupyter_server (checks the token header and the JSON it parses)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_status(url: str, token: str) -> dict[str, object]:
    req = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return dict(json.load(resp))


@pytest.mark.slow
def test_idle_check_against_real_jupyter_server(idle: IdleCheck, tmp_path: Path) -> None:
    pytest.importorskip("jupyter_server")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    port = free_port()
    token = idle.box.token_file.read_text()
    server_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "JUPYTER_TOKEN_FILE": str(idle.box.token_file),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={tmp_path}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status = api_status(url, token)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    pytest.fail("jupyter_server did not start:\n" + server.communicate()[0])
                time.sleep(0.2)
        # only the stubs for who/shutdown/nvidia-smi: the real curl talks to the real server
        real_bin = tmp_path / "real-bin"
        real_bin.mkdir()
        for name in ("who", "shutdown", "nvidia-smi"):
            (real_bin / name).symlink_to(idle.box.bin / name)
        idle.last_active(timedelta(minutes=61))
        proc = idle.run(
            PATH=f"{real_bin}:/usr/local/bin:/usr/bin:/bin",
            LABCTL_JUPYTER_URL=url,
            METADATA_URL="http://127.0.0.1:9/computeMetadata/v1",
            LABCTL_NOW=str(int(datetime.now(UTC).timestamp())),
        )
        assert_ok(proc)
        assert "Jupyter: 0 kernel(s), none busy" in proc.stdout, proc.stdout
        assert token not in proc.stdout + proc.stderr
        # the check itself must not count as activity
        assert api_status(url, token)["last_activity"] == status["last_activity"]
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert token not in out  # jupyter_server masks a token that comes from JUPYTER_TOKEN_FILE
