"""gcloud sends fingerprints back in URL-safe base64; add-labels / add-metadata must never 412."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.emulator import Emulator
from tests.emulator._gcloud import Gcloud, needs_gcloud
from tests.emulator._http import Api, vm_body

pytestmark = needs_gcloud

ZONE = "us-central1-c"
MAX_ROUNDS = 30
URL_SAFE_ONLY = set("-_")


def test_add_labels_and_metadata_in_both_alphabets(emulator: Emulator, tmp_path: Path) -> None:
    api = Api(emulator)
    assert api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body("fp-vm"))[0] == 200
    g = Gcloud(emulator, tmp_path / "gcloud")
    seen: dict[str, set[str]] = {"setLabels": set(), "setMetadata": set()}
    for n in range(MAX_ROUNDS):
        g.run("compute", "instances", "add-labels", "fp-vm", f"--zone={ZONE}", f"--labels=n={n}")
        g.run(
            "compute", "instances", "add-metadata", "fp-vm", f"--zone={ZONE}", f"--metadata=n={n}"
        )
        for req in emulator.requests:
            verb = req["path"].rsplit("/", 1)[-1]
            if verb in seen:
                sent = req["body"].get("labelFingerprint") or req["body"].get("fingerprint")
                # A fingerprint with '-'/'_' was issued with '+'/'/': gcloud re-encoded it.
                seen[verb].add("url-safe" if URL_SAFE_ONLY & set(sent) else "either")
        if all("url-safe" in kinds for kinds in seen.values()):
            break
    else:
        pytest.fail(f"gcloud never sent a URL-safe-only fingerprint in {MAX_ROUNDS} rounds: {seen}")
    vm = api.get(f"projects/labctl-demo/zones/{ZONE}/instances/fp-vm")[1]
    assert vm["labels"]["n"] == str(n)
    assert {"key": "n", "value": str(n)} in vm["metadata"]["items"]
    posts = [r for r in emulator.requests if r["method"] == "POST"]
    assert len([r for r in posts if r["path"].endswith(("/setLabels", "/setMetadata"))]) == 2 * (
        n + 1
    )
