"""Real `gcloud storage` in the emulator's environment reaches the emulator, not the service."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from labctl.emulator import Emulator
from tests._emulator_fixtures import gcloud_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


def gcloud(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["gcloud", *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_gcloud_storage_lists_and_copies_against_the_emulator(tmp_path: Path) -> None:
    with Emulator(storage_port=0) as emu:
        env = gcloud_env(emu, tmp_path / "gcloud")
        assert emu.storage_url is not None
        assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] == emu.storage_url + "/storage/v1/"
        endpoint = {"api_endpoint": emu.storage_url}
        for project, name in (("labctl-demo", "lab-ana"), ("other", "lab-theirs")):
            storage.Client(
                project=project, credentials=AnonymousCredentials(), client_options=endpoint
            ).create_bucket(name, location="europe-west1")

        gcloud(env, "storage", "buckets", "create", "gs://lab-bo", "--location=us-central1")
        assert gcloud(env, "storage", "ls").stdout.split() == ["gs://lab-ana/", "gs://lab-bo/"]
        listed = json.loads(gcloud(env, "storage", "buckets", "list", "--format=json").stdout)
        assert {(b["name"], b["location"]) for b in listed} == {
            ("lab-ana", "EUROPE-WEST1"),
            ("lab-bo", "US-CENTRAL1"),
        }

        notes = tmp_path / "notes.txt"
        notes.write_text("hello\n")
        gcloud(env, "storage", "cp", str(notes), "gs://lab-bo/lab1/notes.txt")
        assert gcloud(env, "storage", "cat", "gs://lab-bo/lab1/notes.txt").stdout == "hello\n"
