"""labctl's SSH key pair, user-supplied identities, and the `ssh-keys` metadata format."""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.ssh.errors import InvalidUsername, KeyFileError, SshKeysTooLarge

# paramiko and cryptography are imported where a key is made or loaded: `vm create` with an
# existing key only reads the public half, and must not pay for them.
if TYPE_CHECKING:
    import paramiko

log = logging.getLogger(__name__)

KEY_DIR_NAME = "ssh"
KEY_FILE_NAME = "labctl_ed25519"
DEFAULT_KEY_LIFETIME = timedelta(days=120)
# Compute Engine rejects a metadata value over 256 KB.
SSH_KEYS_MAX_BYTES = 256 * 1024
# The `expireOn` format gcloud writes and the guest agent parses.
EXPIRE_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"
FALLBACK_USERNAME = "student"
# Accounts that exist on every image or that sshd on GCE images refuses to log in as.
RESERVED_USERNAMES = frozenset({"root", "daemon", "bin", "sys", "nobody", "sshd"})
_USERNAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class KeyPair:
    """A private key loaded in memory plus where it lives on disk."""

    private_path: Path
    pkey: paramiko.PKey

    @property
    def public_openssh(self) -> str:
        """`"ssh-ed25519 AAAA..."`: the key type and base64 blob, no comment."""
        return f"{self.pkey.get_name()} {self.pkey.get_base64()}"


def blob_fingerprint(blob: bytes) -> str:
    """The OpenSSH fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def default_key_path(config_dir: Path) -> Path:
    """Where labctl keeps its own private key: `<config_dir>/ssh/labctl_ed25519`."""
    return config_dir / KEY_DIR_NAME / KEY_FILE_NAME


def _make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for an existing directory.
    os.chmod(path, 0o700)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a fresh file created with `mode`; fail if `path` already exists.

    The temporary file is opened with O_EXCL and its final mode, so the key is never
    readable by others, not even for an instant. `os.link` publishes it without
    clobbering a key another labctl process created at the same moment.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def ensure_key_pair(config_dir: Path, *, comment: str = "labctl") -> KeyPair:
    """Load labctl's ed25519 key from `config_dir`, creating it (0600, dir 0700) on first use."""
    path = default_key_path(config_dir)
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        _make_private_dir(path.parent)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        try:
            _write_new_file(path, pem, 0o600)
        except FileExistsError:
            log.debug("another process created %s first; using it", path)
        else:
            pub_path = path.with_name(path.name + ".pub")
            with contextlib.suppress(FileExistsError):
                _write_new_file(pub_path, public + f" {comment}\n".encode(), 0o644)
            log.info("created SSH key %s", path)
    return load_identity(path)


def load_key_pair(config_dir: Path, identity: Path | None = None) -> KeyPair:
    """The key to log in with: `identity` (--identity) if given, else labctl's own key."""
    return load_identity(identity) if identity is not None else ensure_key_pair(config_dir)


def load_identity(path: Path) -> KeyPair:
    """Load an unencrypted private key (ed25519, ECDSA or RSA) that only its owner can read."""
    import paramiko

    path = path.expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"identity file {path} does not exist",
            hint="give the path of an existing private key, or leave it out to use labctl's key",
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read identity file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"identity file {path} is not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read identity file {path}: {exc.strerror}") from None
    # What the file is decides the advice: a .pub file needs no chmod, it needs replacing.
    if _is_public_key(data) or (path.suffix == ".pub" and b"PRIVATE KEY" not in data):
        raise KeyFileError(
            f"{path} is a public key; logging in needs the private key",
            hint=_private_half(path),
        )
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(
            f"{path} is not a private key",
            hint="an OpenSSH or PEM private key file starts with -----BEGIN",
        )
    # Same rule as OpenSSH: a private key others can read is treated as compromised.
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise KeyFileError(
            f"private key {path} is accessible by others (mode {mode:04o})",
            hint=f"chmod 600 {path}"
            if st.st_uid == os.getuid()
            else f"it belongs to another user (uid {st.st_uid}): use a copy of your own, mode 600",
        )
    try:
        pkey = paramiko.PKey.from_path(path)
    except (TypeError, paramiko.PasswordRequiredException):
        # cryptography raises TypeError when a key is encrypted and no password was given.
        raise KeyFileError(
            f"identity file {path} is encrypted with a passphrase",
            hint="labctl needs a key without a passphrase; leave it out to use labctl's own key",
        ) from None
    except (ValueError, paramiko.SSHException) as exc:
        raise KeyFileError(f"cannot load identity file {path}: {type(exc).__name__}") from None
    return KeyPair(private_path=path, pkey=pkey)


_PUBLIC_PREFIXES = (b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-", b"---- BEGIN SSH2 PUBLIC")


def _is_public_key(data: bytes) -> bool:
    """An OpenSSH public key line, an RFC 4716 block, or a PEM public key."""
    head = data.lstrip()
    return head.startswith(_PUBLIC_PREFIXES) or head.startswith(b"-----BEGIN PUBLIC KEY-----")


def _private_half(public: Path) -> str:
    """Where the private key that goes with `public` is, when it is next to it."""
    if public.suffix == ".pub":
        private = public.with_suffix("")
        if private.is_file():
            return f"give {private} instead (the private half of this key)"
        return f"its private half would be {private}, which does not exist: give the private key"
    return "give the private key file (the one without .pub)"


def default_username(local: str | None = None) -> str:
    """The VM user: the local login name if it is a plain lowercase Linux name, else `student`."""
    if local is None:
        try:
            local = getpass.getuser()
        except (KeyError, OSError):
            return FALLBACK_USERNAME
    if _USERNAME_RE.fullmatch(local) and local not in RESERVED_USERNAMES:
        return local
    return FALLBACK_USERNAME


def validate_username(name: str) -> str:
    """Return `name` if it can be a Linux user on the VM, else raise `InvalidUsername`."""
    if not _USERNAME_RE.fullmatch(name):
        raise InvalidUsername(
            f"{name!r} is not a valid Linux user name",
            hint="use 1-32 characters: lowercase letters, digits, '_' or '-', "
            "starting with a letter or '_'",
        )
    if name in RESERVED_USERNAMES:
        raise InvalidUsername(f"{name!r} is a system account on the VM", hint="pick another user")
    return name


@dataclass(frozen=True)
class SshKeyEntry:
    """One line of the `ssh-keys` metadata value."""

    user: str
    key_type: str
    key_blob: str
    comment: str
    user_name: str | None = None  # from the google-ssh JSON, if present
    expire_on: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expire_on is not None and self.expire_on <= now


def format_ssh_keys_entry(user: str, public_key: str, expire_on: datetime) -> str:
    """`USER:ssh-ed25519 BASE64 google-ssh {"userName":"USER","expireOn":"...+0000"}`.

    `public_key` is `"TYPE BASE64 [comment]"`; the comment is replaced. The JSON must not
    contain spaces (the guest agent splits the line on whitespace).
    """
    key_type, blob = public_key.split()[:2]
    meta = {"userName": user, "expireOn": expire_on.astimezone(UTC).strftime(EXPIRE_FORMAT)}
    return f"{user}:{key_type} {blob} google-ssh {json.dumps(meta, separators=(',', ':'))}"


def parse_ssh_keys_entry(line: str) -> SshKeyEntry | None:
    """Parse `USER:TYPE BASE64 [COMMENT]`; None for a line that is not in that shape."""
    user, sep, rest = line.strip().partition(":")
    parts = rest.split(None, 2)
    if not sep or not user or len(parts) < 2:
        return None
    comment = parts[2] if len(parts) == 3 else ""
    user_name: str | None = None
    expire_on: datetime | None = None
    if comment.startswith("google-ssh "):
        try:
            meta = json.loads(comment[len("google-ssh ") :])
            user_name = str(meta.get("userName")) if meta.get("userName") else None
            if meta.get("expireOn"):
                expire_on = datetime.strptime(meta["expireOn"], "%Y-%m-%dT%H:%M:%S%z")
        except (ValueError, TypeError, AttributeError):
            pass  # an unreadable expiry never causes a key to be dropped
    return SshKeyEntry(user, parts[0], parts[1], comment, user_name, expire_on)


def merge_ssh_keys(
    existing: str,
    user: str,
    public_key: str,
    *,
    expire_on: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """Return `existing` (an `ssh-keys` value) with labctl's key for `user` added.

    Other users' keys and lines labctl cannot parse are kept as they are. Dropped: expired
    `google-ssh` entries (as gcloud does), the same key blob for `user`, and this user's
    older labctl keys, recognised as `google-ssh` entries whose `userName` is the Linux
    user itself (gcloud writes the account e-mail there, so its keys survive).
    """
    now = now or datetime.now(UTC)
    expire_on = expire_on or now + DEFAULT_KEY_LIFETIME
    blob = public_key.split()[1]
    kept: list[str] = []
    for line in existing.splitlines():
        if not line.strip():
            continue
        entry = parse_ssh_keys_entry(line)
        if entry is not None:
            if entry.expired(now):
                continue
            if entry.user == user and (entry.key_blob == blob or entry.user_name == user):
                continue
        kept.append(line.rstrip())
    kept.append(format_ssh_keys_entry(user, public_key, expire_on))
    value = "\n".join(kept)
    if len(value.encode()) > SSH_KEYS_MAX_BYTES:
        raise SshKeysTooLarge(
            f"the ssh-keys metadata would be {len(value.encode())} bytes "
            f"(limit {SSH_KEYS_MAX_BYTES})",
            hint="remove unused keys from the VM's ssh-keys metadata",
        )
    return value
