"""Who logs in to a course VM: the Linux user, labctl's key in `ssh-keys`, and the metadata rules.

Keys go into the instance's own `ssh-keys` with an expiry (the `google-ssh` format gcloud
writes), and `block-project-ssh-keys=TRUE` makes the VM ignore project-wide keys, so a
classmate's key never opens someone else's VM. The startup script runs Jupyter as the user
recorded in `labctl-user`, so the tunnel logs in as that user and can read Jupyter's token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SSH_KEYS = "ssh-keys"
BLOCK_PROJECT_KEYS = "block-project-ssh-keys"
USER_KEY = "labctl-user"
OS_LOGIN = "enable-oslogin"


@dataclass(frozen=True)
class LoginKey:
    """The public half of the key a user logs in with, and its fingerprint."""

    public_openssh: str
    fingerprint: str
    path: Path | None  # None: not written yet (a dry run)


def login_key(config_dir: Path, identity: Path | None = None, *, create: bool = True) -> LoginKey:
    """labctl's own key (made 0600 on first use), or `identity`. With create=False (a dry run)
    nothing is written: a missing key is shown as the one a real run would create."""
    from labctl.ssh.keys import default_key_path

    path = default_key_path(config_dir)
    if identity is None and path.exists():
        known = _public_half(path)
        if known is not None:
            return known
    if identity is None and not create and not path.exists():
        return LoginKey("ssh-ed25519 (created on the first real run) labctl", "(new key)", None)
    from labctl.ssh.keys import blob_fingerprint, load_key_pair

    pair = load_key_pair(config_dir, identity)
    return LoginKey(pair.public_openssh, blob_fingerprint(pair.pkey.asbytes()), pair.private_path)


def _public_half(private: Path) -> LoginKey | None:
    """labctl's key from the `.pub` file written beside it, without loading the private key
    (and paramiko): all a VM's metadata needs. None if that file is missing or odd."""
    from labctl.ssh.keys import blob_fingerprint

    try:
        words = private.with_name(private.name + ".pub").read_text(encoding="ascii").split()
        blob = base64.b64decode(words[1], validate=True)
    except (OSError, UnicodeDecodeError, IndexError, binascii.Error):
        return None
    return LoginKey(f"{words[0]} {words[1]}", blob_fingerprint(blob), private)


def vm_user(metadata: Mapping[str, str], flag: str | None = None) -> str:
    """--user, else the user `vm create` set up (Jupyter runs as it), else the login name."""
    from labctl.ssh.keys import default_username, validate_username

    if flag:
        return validate_username(flag)
    return metadata.get(USER_KEY) or default_username()


def with_login(
    metadata: Mapping[str, str],
    *,
    user: str,
    key: LoginKey,
    expire_on: datetime,
    now: datetime | None = None,
    record_user: bool = False,
) -> dict[str, str]:
    """The metadata with `user`'s key added (other users' keys kept, expired labctl keys
    dropped) and project keys blocked; with record_user, `labctl-user` names the user."""
    from labctl.ssh.keys import merge_ssh_keys

    keys = merge_ssh_keys(
        metadata.get(SSH_KEYS, ""), user, key.public_openssh, expire_on=expire_on, now=now
    )
    updated = {**metadata, SSH_KEYS: keys, BLOCK_PROJECT_KEYS: "TRUE"}
    if record_user:
        updated[USER_KEY] = user
    return updated


def uses_os_login(metadata: Mapping[str, str]) -> bool:
    """OS Login ignores keys in metadata."""
    return str(metadata.get(OS_LOGIN, "")).upper() == "TRUE"
