"""Environment variables encrypted at rest, as Lambda keeps them (with its AWS-managed key).

The emulator persists functions in ``lambda.db``; their environment values (database
passwords, API tokens marked ``secret_environment`` in lambdashift.yaml) must not sit there in
clear text, where a backup, a ``grep`` or a bug report would carry them off. Each value is
sealed with a key kept beside the database in ``env.key`` (mode 0600): a copy of the
database alone reveals no value; whoever can read the key file can, as whoever holds
Lambda's key can on AWS. API responses (GetFunctionConfiguration) show values as AWS does.

The cipher is built from the standard library alone (no runtime dependency for a local
emulator): a keystream of HMAC-SHA256(key, nonce ‖ counter) blocks XORed with the value,
then an HMAC-SHA256 tag over nonce and ciphertext, checked before anything is decrypted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["EnvSealer"]

_PREFIX = "lsenc1:"
_NONCE, _TAG = 16, 16


class EnvSealer:
    """Seals and opens the ``environment`` of stored function documents."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / "env.key"
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = secrets.token_bytes(32)
            # O_EXCL: two emulators starting on one data dir agree on the first key written.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                key = path.read_bytes()
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
                    out.flush()
                    os.fsync(out.fileno())
        if len(key) != 32:
            raise ValueError(f"{path}: not an environment key (delete the data directory)")
        self._enc = hmac.new(key, b"enc", hashlib.sha256).digest()
        self._mac = hmac.new(key, b"mac", hashlib.sha256).digest()

    def seal_value(self, value: str) -> str:
        """``lsenc1:`` + base64(nonce ‖ ciphertext ‖ tag)."""
        nonce = secrets.token_bytes(_NONCE)
        data = value.encode()
        body = bytes(a ^ b for a, b in zip(data, self._stream(nonce, len(data))))
        tag = hmac.new(self._mac, nonce + body, hashlib.sha256).digest()[:_TAG]
        return _PREFIX + base64.b64encode(nonce + body + tag).decode()

    def open_value(self, sealed: str) -> str:
        """The clear value; a value stored before sealing existed is returned as it is."""
        if not sealed.startswith(_PREFIX):
            return sealed
        raw = base64.b64decode(sealed[len(_PREFIX):])
        nonce, body, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        want = hmac.new(self._mac, nonce + body, hashlib.sha256).digest()[:_TAG]
        if not hmac.compare_digest(tag, want):
            raise ValueError("an environment value does not match env.key (was the key replaced?)")
        return bytes(a ^ b for a, b in zip(body, self._stream(nonce, len(body)))).decode()

    def seal(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A function document (``Function.to_doc``) with every environment value sealed."""
        return self._each_config(doc, self.seal_value)

    def open(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`seal`."""
        return self._each_config(doc, self.open_value)

    def _stream(self, nonce: bytes, length: int) -> bytes:
        blocks = (length + 31) // 32
        return b"".join(hmac.new(self._enc, nonce + i.to_bytes(8, "big"), hashlib.sha256).digest()
                        for i in range(blocks))[:length]

    @staticmethod
    def _each_config(doc: dict[str, Any], change: Any) -> dict[str, Any]:
        def config(c: Mapping[str, Any]) -> dict[str, Any]:
            env = c.get("environment") or {}
            return {**c, "environment": {k: change(v) for k, v in env.items()}}

        out = dict(doc)
        if "latest" in out:
            out["latest"] = config(out["latest"])
        if "versions" in out:
            out["versions"] = {n: config(c) for n, c in out["versions"].items()}
        return out
