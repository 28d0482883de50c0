"""Finding Jupyter on the VM, its browser URL, and keeping its token out of logs and errors."""

from __future__ import annotations

import logging

import pytest

from labctl.ssh.commands import tunnel_jupyter
from labctl.ssh.errors import JupyterNotRunning
from labctl.ssh.jupyter import JupyterServer, parse_server_list
from tests.ssh.conftest import AccessFactory
from tests.ssh.servers import JupyterServerProc


@pytest.mark.slow
def test_jupyter_not_running_says_how_long_and_how_often(
    make_access: AccessFactory, jupyter: JupyterServerProc
) -> None:
    progress: list[str] = []
    with pytest.raises(JupyterNotRunning) as info:
        tunnel_jupyter(
            make_access(zone="us-central1-c"),
            jupyter_commands=["true"],
            wait=3.0,
            on_progress=lambda elapsed, status: progress.append(status),
        )
    error = info.value
    assert error.message.startswith("no Jupyter server is running on lab-vm after ")
    # Every check was reported as progress, and the message counts them.
    checks = f"{len(progress)} check{'s' if len(progress) > 1 else ''}"
    assert error.message.endswith(f"({checks}; the last: no Jupyter server yet)")
    assert set(progress) == {"no Jupyter server yet"}
    assert (error.kind, error.name, error.zone) == ("vm", "lab-vm", "us-central1-c")
    assert error.hint and error.hint.endswith(
        "gcloud compute instances get-serial-port-output lab-vm --zone us-central1-c"
    )
    assert "labctl " not in error.hint  # the CLI's error table adds labctl's own advice


def test_parse_server_list_and_redacted_repr() -> None:
    text = (
        "not json\n"
        '{"url": "http://localhost:8888/", "port": 8888, "token": "s3cret", '
        '"base_url": "/", "pid": 7}\n'
        '[{"url": "http://localhost:8889/x/", "port": 8889, "token": "", "base_url": "/x/"}]\n'
    )
    servers = parse_server_list(text)
    assert [s.port for s in servers] == [8888, 8889]
    assert "s3cret" not in repr(servers[0]) and "s3cret" not in str(servers[0])
    assert servers[1].browser_url(9000) == "http://127.0.0.1:9000/x/lab"
    assert JupyterServer("u", 1, "a b&c").browser_url(5) == "http://127.0.0.1:5/lab?token=a%20b%26c"


def test_token_redacting_filter(caplog: pytest.LogCaptureFixture) -> None:
    from labctl.ssh.jupyter import TokenRedactingFilter, redact_tokens

    assert redact_tokens("http://127.0.0.1:8888/lab?token=abc123&x=1") == (
        "http://127.0.0.1:8888/lab?token=***&x=1"
    )
    assert redact_tokens('{"token": "abc123", "port": 1}') == '{"token": "***", "port": 1}'
    logger = logging.getLogger("labctl.test.redact")
    handler_filter = TokenRedactingFilter(["s3cr3t-value"])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="labctl.test.redact"):
            logger.info("open %s", "http://x/lab?token=s3cr3t-value")
            logger.info("raw secret %s", "s3cr3t-value")
    finally:
        logger.removeFilter(handler_filter)
    assert "s3cr3t-value" not in caplog.text and caplog.text.count("***") == 2
