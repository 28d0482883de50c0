"""Host-key verification: labctl's known_hosts, keys published in guest attributes, consent."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import shlex
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import paramiko

from labctl.ssh.errors import HostKeyChanged, HostKeyMismatch, UnknownHostKey
from labctl.ssh.keys import blob_fingerprint

log = logging.getLogger(__name__)

KNOWN_HOSTS_FILE_NAME = "known_hosts"
# The guest agent publishes these keys under the `hostkeys/` guest-attribute namespace.
GUEST_ATTRIBUTE_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
GUEST_ATTRIBUTE_QUERY_PATH = "hostkeys/"

# Receives the full question (alias, address, fingerprint) and returns True to trust the key.
ConfirmHostKey = Callable[[str], bool]


def host_alias(instance_id: int | str) -> str:
    """`"compute.<instance id>"`: the name gcloud and labctl record a VM's host keys under.

    The numeric id, unlike the IP, never moves to another VM, so a recycled external
    IP cannot make labctl trust a stranger.
    """
    return f"compute.{instance_id}"


def fingerprint_sha256(key: paramiko.PKey) -> str:
    """The OpenSSH fingerprint: `SHA256:` + unpadded base64 of the key blob's SHA-256."""
    return blob_fingerprint(key.asbytes())


def _key_label(key: paramiko.PKey) -> str:
    # OpenSSH prints "ED25519", "ECDSA", "RSA" before the fingerprint.
    name = key.get_name()
    label = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}.get(name)
    return label or ("ECDSA" if name.startswith("ecdsa") else name)


def key_from_blob(key_type: str, blob_b64: str) -> paramiko.PKey:
    """Build a public key from its base64 blob, checking the blob is of `key_type`."""
    blob = base64.b64decode(blob_b64.strip(), validate=True)
    key = paramiko.PKey.from_type_string(key_type, blob)
    if key.get_name() != key_type:
        raise ValueError(f"blob is a {key.get_name()} key, not {key_type}")
    return key


def parse_guest_attribute_host_keys(attributes: Mapping[str, str]) -> dict[str, paramiko.PKey]:
    """Host keys from the `hostkeys/` guest attributes, by key type.

    Accepts keys with or without the `hostkeys/` prefix and values that are either the
    bare base64 blob (what the guest agent writes) or `"TYPE BASE64"`. Unsupported types
    and values that are not valid base64 keys are skipped, as gcloud does.
    """
    keys: dict[str, paramiko.PKey] = {}
    for raw_name, raw_value in attributes.items():
        key_type = raw_name.removeprefix(GUEST_ATTRIBUTE_QUERY_PATH)
        if key_type not in GUEST_ATTRIBUTE_KEY_TYPES:
            continue
        parts = raw_value.split()
        if len(parts) >= 2 and parts[0] == key_type:
            parts = parts[1:]
        if not parts:
            continue
        try:
            keys[key_type] = key_from_blob(key_type, parts[0])
        except (binascii.Error, ValueError, paramiko.SSHException) as exc:
            log.warning("ignoring host key %s from guest attributes: %s", key_type, exc)
    return keys


class KnownHosts:
    """labctl's own known_hosts file, readable by OpenSSH (`UserKnownHostsFile`).

    Entries are `ALIAS TYPE BASE64`. Lines labctl does not understand (hashed hosts,
    markers, comments) are kept verbatim when the file is rewritten.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def in_config_dir(cls, config_dir: Path) -> KnownHosts:
        return cls(config_dir / "ssh" / KNOWN_HOSTS_FILE_NAME)

    def _read_lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def lookup(self, alias: str) -> dict[str, list[paramiko.PKey]]:
        """Recorded keys for `alias`, by key type."""
        found: dict[str, list[paramiko.PKey]] = {}
        for line in self._read_lines():
            parts = line.split()
            if len(parts) < 3 or line.lstrip().startswith(("#", "@", "|")):
                continue
            if alias not in parts[0].split(","):
                continue
            try:
                key = key_from_blob(parts[1], parts[2])
            except (binascii.Error, ValueError, paramiko.SSHException):
                log.warning("skipping unreadable known_hosts entry for %s in %s", alias, self.path)
                continue
            found.setdefault(parts[1], []).append(key)
        return found

    def add(self, alias: str, keys: list[paramiko.PKey]) -> None:
        """Record `keys` for `alias`, replacing any earlier key of the same type."""
        types = {k.get_name() for k in keys}
        with self._lock:
            lines = [line for line in self._read_lines() if not _entry_matches(line, alias, types)]
            lines += [f"{alias} {k.get_name()} {k.get_base64()}" for k in keys]
            self._write(lines)

    def remove(self, alias: str) -> int:
        """Forget every key of `alias`; returns how many lines were removed."""
        with self._lock:
            lines = self._read_lines()
            kept = [line for line in lines if not _entry_matches(line, alias, None)]
            if len(kept) != len(lines):
                self._write(kept)
            return len(lines) - len(kept)

    def remove_command(self, alias: str) -> str:
        """The shell command that forgets `alias`, to show in error hints."""
        return f"ssh-keygen -R {shlex.quote(alias)} -f {shlex.quote(str(self.path))}"

    def _write(self, lines: list[str]) -> None:
        # Write a temp file and rename it over the old one: a crash never leaves half a file.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write("".join(line + "\n" for line in lines))
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _entry_matches(line: str, alias: str, types: set[str] | None) -> bool:
    parts = line.split()
    if len(parts) < 3 or line.lstrip().startswith(("#", "@", "|")):
        return False
    return alias in parts[0].split(",") and (types is None or parts[1] in types)


class HostKeyVerifier:
    """Decides whether a server key belongs to the VM known as `alias`. Never auto-accepts.

    In order: a key recorded in known_hosts is accepted; a different key of a recorded
    type is `HostKeyChanged`; with keys published by the VM (guest attributes, fetched
    over the authenticated Compute API) the key must be one of them (`HostKeyMismatch`
    otherwise) and they are recorded; otherwise the key is unknown and is accepted only
    with `accept_new=True` or a yes from `confirm`, else `UnknownHostKey`.
    """

    def __init__(
        self,
        known_hosts: KnownHosts,
        alias: str,
        *,
        published: Mapping[str, paramiko.PKey] | None = None,
        accept_new: bool = False,
        confirm: ConfirmHostKey | None = None,
        vm_name: str | None = None,
    ) -> None:
        self.known_hosts = known_hosts
        self.alias = alias
        self.published = dict(published or {})
        self.accept_new = accept_new
        self.confirm = confirm
        self.vm_name = vm_name

    def known_key_types(self) -> list[str]:
        """Key types to ask the server for first (recorded ones, then published ones)."""
        types = list(self.known_hosts.lookup(self.alias))
        return types + [t for t in self.published if t not in types]

    def verify(self, key: paramiko.PKey, address: str = "") -> None:
        """Return if `key` is trusted for `self.alias`; raise a `HostKeyError` otherwise."""
        key_type = key.get_name()
        blob = key.asbytes()
        recorded = self.known_hosts.lookup(self.alias)
        if any(k.asbytes() == blob for k in recorded.get(key_type, [])):
            return
        who = self.alias + (f" ({address})" if address else "")
        vm = f"VM {self.vm_name}" if self.vm_name else "the VM"
        if key_type in recorded:
            old = recorded[key_type][0]
            also = (
                " The VM's guest attributes do list the new key, so the VM itself most "
                "likely regenerated its host keys."
                if key_type in self.published and self.published[key_type].asbytes() == blob
                else ""
            )
            raise HostKeyChanged(
                f"the {_key_label(key)} host key of {who} has changed: known_hosts has "
                f"{fingerprint_sha256(old)}, the server presented {fingerprint_sha256(key)}. "
                "Someone may be intercepting the connection (man in the middle), or the "
                f"disk of {vm} was rebuilt and generated new host keys (a deleted and "
                f"recreated VM gets a new id, so it would not match this entry).{also}",
                hint="if you know why the key changed, forget the old key with "
                f"`{self.known_hosts.remove_command(self.alias)}` and connect again",
                kind="vm",
                name=self.vm_name,
            )
        if self.published:
            match = self.published.get(key_type)
            if match is not None and match.asbytes() == blob:
                log.info("host key of %s matches the key published by the VM", who)
                self.known_hosts.add(self.alias, list(self.published.values()))
                return
            raise HostKeyMismatch(
                f"{who} presented {_key_label(key)} key {fingerprint_sha256(key)}, which is "
                f"not among the host keys {vm} published in its guest attributes",
                kind="vm",
                name=self.vm_name,
            )
        if self.accept_new or (self.confirm is not None and self.confirm(self.prompt(key, who))):
            log.info("trusting new host key %s for %s", fingerprint_sha256(key), who)
            self.known_hosts.add(self.alias, [key])
            return
        raise UnknownHostKey(
            f"{who} presented an unknown {_key_label(key)} host key {fingerprint_sha256(key)}",
            hint="compare it with the host keys in the VM's serial console output: "
            f"gcloud compute instances get-serial-port-output {self.vm_name or 'VM'}",
            kind="vm",
            name=self.vm_name,
        )

    @staticmethod
    def prompt(key: paramiko.PKey, who: str) -> str:
        """The question shown before trusting a new key, worded like OpenSSH's."""
        return (
            f"The authenticity of host '{who}' can't be established.\n"
            f"{_key_label(key)} key fingerprint is {fingerprint_sha256(key)}.\n"
            "Trust this key and continue connecting?"
        )


class VerifyingPolicy(paramiko.MissingHostKeyPolicy):
    """A `MissingHostKeyPolicy` for `SSHClient` that defers every decision to a verifier.

    paramiko looks keys up by the name it connected to (an IP, or `[IP]:port`), which is
    not the alias. Leave the client's own host-key table empty: then every server key
    reaches this policy, which checks it against the alias instead.
    """

    def __init__(self, verifier: HostKeyVerifier) -> None:
        self.verifier = verifier

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.verifier.verify(key, hostname)
