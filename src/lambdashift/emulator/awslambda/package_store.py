"""Deployment packages on disk: content-addressed zips, checked and extracted once.

``code/<sha256-hex>.zip`` holds each package as uploaded; ``code/<sha256-hex>/`` its files,
extracted the first time a worker needs them. Both are written to a temporary name and
renamed into place, so a crash leaves either nothing or a complete copy.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lambdashift.aws.packaging import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, code_sha256
from lambdashift.emulator.errors import InvalidParameterValueException, RequestTooLargeException



@dataclass(frozen=True)
class StoredCode:
    """A package the repository holds: AWS's CodeSha256 (base64) and its size in bytes."""

    code_sha256: str
    size: int


def decode_zip_file(value: object, operation: str) -> bytes:
    """The ``ZipFile`` member of a request body (base64 in the JSON) → the zip's bytes."""
    if not isinstance(value, str):
        raise InvalidParameterValueException("ZipFile must be the base64 of a zip archive.")
    # base64 of 50 MB is 69,905,067 characters: AWS states the limit in request bytes.
    if len(value) > 69_905_067:
        raise RequestTooLargeException(
            f"Request must be smaller than 69905067 bytes for the {operation} operation"
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValueException("ZipFile is not valid base64.") from None


def handler_module_paths(handler: str) -> tuple[str, str]:
    """``pkg.mod.func`` → the files that can hold module ``pkg.mod``."""
    module = handler.rsplit(".", 1)[0] if "." in handler else handler
    path = module.replace(".", "/")
    return f"{path}.py", f"{path}/__init__.py"


class CodeRepository:
    """Content-addressed store of deployment packages under ``<data_dir>/code``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def check(self, data: bytes, handler: str, runtime: str = "python3.12") -> zipfile.ZipFile:
        """Refuse what AWS refuses (and a package without the handler's module)."""
        if len(data) > MAX_ZIPPED_BYTES:
            raise RequestTooLargeException(
                f"Zipped deployment package is {len(data)} bytes; the limit is {MAX_ZIPPED_BYTES}."
            )
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = archive.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            raise InvalidParameterValueException(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from None
        unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValueException(
                f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )
        for name in names:
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts:
                raise InvalidParameterValueException(
                    f"Could not unzip uploaded file: entry '{name}' points outside the package."
                )
        self.check_handler(names, handler, runtime)
        return archive

    @staticmethod
    def check_handler(names: list[str], handler: str, runtime: str = "python3.12") -> None:
        """The package contains the module that the handler names (Python and Node.js; a
        ``provided`` bootstrap is looked for when it runs, as AWS does)."""
        if runtime.startswith("nodejs"):
            base = handler.rsplit(".", 1)[0]
            files = [f"{base}{ext}" for ext in (".js", ".mjs", ".cjs")]
            if not any(f in names for f in files):
                raise InvalidParameterValueException(
                    f"The deployment package has no module for handler '{handler}': "
                    f"expected {', '.join(files)} in the zip.")
            return
        if not runtime.startswith("python"):
            return
        candidates = handler_module_paths(handler)
        if not any(c in names for c in candidates):
            raise InvalidParameterValueException(
                f"The deployment package has no module for handler '{handler}': "
                f"expected {candidates[0]} or {candidates[1]} in the zip."
            )

    def names(self, sha256_b64: str) -> list[str]:
        """The file names inside a stored package."""
        with zipfile.ZipFile(self.zip_path(sha256_b64)) as archive:
            return archive.namelist()

    def put(self, data: bytes) -> StoredCode:
        """Keep a package (idempotent: the same bytes are stored once)."""
        digest = code_sha256(data)
        target = self.zip_path(digest)
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".part")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        return StoredCode(code_sha256=digest, size=len(data))

    def read(self, sha256_b64: str) -> bytes:
        """The bytes of a stored package."""
        return self.zip_path(sha256_b64).read_bytes()

    def zip_path(self, sha256_b64: str) -> Path:
        """Where a package's zip lives."""
        return self.root / f"{_hex(sha256_b64)}.zip"

    def extracted(self, sha256_b64: str) -> Path:
        """The package's files on disk, extracting them on first use."""
        target = self.root / _hex(sha256_b64)
        if target.is_dir():
            return target
        tmp = Path(tempfile.mkdtemp(dir=self.root, suffix=".part"))
        try:
            with zipfile.ZipFile(self.zip_path(sha256_b64)) as archive:
                archive.extractall(tmp)
                _restore_modes(archive, tmp)
            os.replace(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.is_dir():  # another caller may have won the rename
                raise
        return target


def _restore_modes(archive: zipfile.ZipFile, root: Path) -> None:
    """zipfile drops the Unix modes: a ``bootstrap`` must stay executable, as on AWS."""
    for info in archive.infolist():
        mode = (info.external_attr >> 16) & 0o777
        if mode & 0o111 and not info.is_dir():
            target = root / info.filename
            target.chmod(target.stat().st_mode | 0o555)


def _hex(sha256_b64: str) -> str:
    return base64.b64decode(sha256_b64).hex()
