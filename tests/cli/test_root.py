"""The root group lists nouns without importing them; what it lists must match the sub-apps."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._root import NOUNS


@pytest.mark.parametrize("noun", list(NOUNS))
def test_root_help_matches_each_sub_app(noun: str) -> None:
    modules, short_help = NOUNS[noun]
    sub_app = importlib.import_module(modules[0]).app
    assert sub_app.info.help == short_help


def test_root_help_lists_every_noun_and_a_typo_gets_a_suggestion() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"]).stdout
    for noun in NOUNS:
        assert f"  {noun} " in listed
    typo = runner.invoke(app, ["buckt", "list"])
    assert typo.exit_code == 2
    assert "Did you mean 'bucket'?" in typo.stderr


def test_vm_includes_the_ssh_command() -> None:
    result = CliRunner().invoke(app, ["vm", "--help"])
    assert "  ssh " in result.stdout
