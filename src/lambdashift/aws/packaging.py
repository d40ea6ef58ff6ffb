"""Deterministic deployment packages (zip files) for Lambda functions.

The same sources must give the same bytes, on every machine and at every time, because
AWS compares ``CodeSha256`` (base64 of the SHA-256 of the zip): an unchanged function
then publishes no new version, and Terraform's ``source_code_hash`` shows no diff. A zip
made with :mod:`zipfile` defaults is not deterministic: it records each file's mtime and
mode and lists files in directory order. :func:`build_zip` fixes all three:

* entries are sorted by their path in the archive (POSIX separators);
* every entry carries the timestamp 1980-01-01 00:00:00, the earliest a zip can hold;
* a file is stored with mode 0o644, or 0o755 when its owner-execute bit is set (a custom
  runtime's ``bootstrap`` must stay executable); directories with 0o755. Any other mode
  bit (group write, umask differences) is dropped so that it cannot change the hash;
* ``__pycache__`` directories, ``*.pyc``/``*.pyo`` files and dotfiles (``.git``,
  ``.venv``, ``.DS_Store``, ...) are left out: they are build residue, not code.

Entries are compressed with DEFLATE at a fixed level. zlib's output for the same input
and level is stable across its releases in practice; a different deflate implementation
(zlib-ng) could change the bytes, so build the packages you deploy in one place (CI).

Extra files (``include``) are placed at the root of the archive under their own name,
next to the handler: this is how the notes service ships one shared helper module in
every function's package. An included directory is placed at the root under its name.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdashift.errors import PackagingError

__all__ = [
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "ZIP_TIMESTAMP",
    "Package",
    "build_zip",
    "code_sha256",
]

#: AWS's limit for a deployment package uploaded directly (not through S3).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
#: AWS's limit for the unzipped function code, layers included.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: The timestamp of every entry: the zip format's epoch.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

_FILE_MODE = 0o644
_EXECUTABLE_MODE = 0o755
_DIR_MODE = 0o755
_COMPRESS_LEVEL = 9
_EXCLUDED_DIRS = frozenset({"__pycache__"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# The "made by" system of every entry: 3 = Unix, so that unzip (and Lambda) honour the
# modes stored in external_attr. zipfile would otherwise pick 0 on Windows.
_CREATE_SYSTEM_UNIX = 3


@dataclass(frozen=True)
class Package:
    """A deployment package: the zip's bytes and what AWS will call its ``CodeSha256``.

    ``files`` lists the archive paths of the files it holds (no directory entries), sorted.
    """

    data: bytes
    code_sha256: str
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        """The size of the zip in bytes."""
        return len(self.data)

    def write(self, path: Path) -> Path:
        """Write the zip to ``path`` atomically (a reader never sees half a zip); return it.

        Parent directories are created. An existing file with the same bytes is left
        untouched, so its mtime does not suggest a rebuild.
        """
        path = Path(path)
        try:
            if path.is_file() and path.read_bytes() == self.data:
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            partial.write_bytes(self.data)
            os.replace(partial, path)
        except OSError as exc:
            raise PackagingError(f"cannot write package {path}: {exc.strerror or exc}") from exc
        return path


def code_sha256(data: bytes) -> str:
    """Return AWS's ``CodeSha256`` of a zip: the base64 of its SHA-256 digest.

    Terraform's ``filebase64sha256(path)`` computes the same value.
    """
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build_zip(
    source_dir: Path,
    include: Sequence[Path] = (),
    *,
    max_zipped_bytes: int = MAX_ZIPPED_BYTES,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
) -> Package:
    """Package ``source_dir`` (and the ``include`` files) into a deterministic zip.

    ``source_dir``'s contents go to the root of the archive. Each path in ``include`` is
    added at the root under its base name (a directory with its contents). Raises
    :class:`~lambdashift.errors.PackagingError`, naming the path, when ``source_dir`` is
    not a directory, an include does not exist or collides with another file, the package
    would be empty, a file cannot be read, or a size limit is exceeded.
    """
    source_dir = Path(source_dir)
    if not source_dir.exists():
        raise PackagingError(f"source directory does not exist: {source_dir}")
    if not source_dir.is_dir():
        raise PackagingError(f"source is not a directory: {source_dir}")

    # archive path -> file on disk; built first so collisions and sizes are checked
    # before any byte is compressed.
    entries: dict[str, Path] = {}
    for arcname, path in _walk(source_dir, prefix=""):
        entries[arcname] = path
    for extra in include:
        extra = Path(extra)
        if not extra.exists():
            raise PackagingError(f"include path does not exist: {extra}")
        if _is_excluded(extra.name):
            raise PackagingError(
                f"include path is a dotfile or build residue and would be left out: {extra}"
            )
        if extra.is_dir():
            extra_entries = list(_walk(extra, prefix=f"{extra.name}/"))
        else:
            extra_entries = [(extra.name, extra)]
        for arcname, path in extra_entries:
            if arcname in entries:
                raise PackagingError(
                    f"include path {path} collides with {entries[arcname]} "
                    f"at {arcname!r} in the package of {source_dir}"
                )
            entries[arcname] = path

    if not entries:
        raise PackagingError(
            f"nothing to package in {source_dir}: the directory is empty or every file is excluded"
        )

    unzipped = 0
    for arcname, path in entries.items():
        try:
            unzipped += path.stat().st_size
        except OSError as exc:
            raise PackagingError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if unzipped > max_unzipped_bytes:
        raise PackagingError(
            f"package of {source_dir} is {unzipped} bytes unzipped, "
            f"over the limit of {max_unzipped_bytes} bytes"
        )

    files = tuple(sorted(entries))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname in sorted(set(files) | _parent_dirs(files)):
            if arcname.endswith("/"):
                archive.writestr(_zip_info(arcname, _DIR_MODE, is_dir=True), b"")
                continue
            path = entries[arcname]
            try:
                data = path.read_bytes()
                mode = _EXECUTABLE_MODE if path.stat().st_mode & stat.S_IXUSR else _FILE_MODE
            except OSError as exc:
                raise PackagingError(f"cannot read {path}: {exc.strerror or exc}") from exc
            archive.writestr(
                _zip_info(arcname, mode, is_dir=False), data, compresslevel=_COMPRESS_LEVEL
            )

    data = buffer.getvalue()
    if len(data) > max_zipped_bytes:
        raise PackagingError(
            f"package of {source_dir} is {len(data)} bytes zipped, "
            f"over the limit of {max_zipped_bytes} bytes"
        )
    return Package(data=data, code_sha256=code_sha256(data), files=files)


def _is_excluded(name: str) -> bool:
    """Whether a file or directory name is build residue or hidden, and stays out."""
    return name.startswith(".") or name in _EXCLUDED_DIRS or name.endswith(_EXCLUDED_SUFFIXES)


def _walk(root: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """Yield ``(archive path, file)`` for every packaged file under ``root``.

    Symbolic links are followed (the package holds what they point to); a link to a
    directory that contains it is an error rather than an endless package.
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=_raise_walk_error):
        # Pruning dirnames in place stops os.walk from descending into excluded trees.
        dirnames[:] = sorted(d for d in dirnames if not _is_excluded(d))
        here = os.path.realpath(dirpath)
        for name in dirnames:
            target = os.path.realpath(os.path.join(dirpath, name))
            if here == target or here.startswith(target + os.sep):
                raise PackagingError(f"symbolic link loop: {Path(dirpath, name)} -> {target}")
        relative = Path(dirpath).relative_to(root).as_posix()
        base = prefix if relative == "." else f"{prefix}{relative}/"
        for name in sorted(filenames):
            if _is_excluded(name):
                continue
            path = Path(dirpath, name)
            if not path.is_file():
                # A dangling link, a socket or a FIFO: nothing Lambda could load.
                raise PackagingError(f"not a regular file (dangling link?): {path}")
            yield f"{base}{name}", path


def _raise_walk_error(error: OSError) -> None:
    raise PackagingError(f"cannot read {error.filename}: {error.strerror or error}") from error


def _parent_dirs(files: Sequence[str]) -> set[str]:
    """Every directory entry (``a/``, ``a/b/``) the files need, for deterministic modes."""
    parents: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parents.add("/".join(parts[:depth]) + "/")
    return parents


def _zip_info(arcname: str, mode: int, *, is_dir: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
    info.create_system = _CREATE_SYSTEM_UNIX
    file_type = stat.S_IFDIR if is_dir else stat.S_IFREG
    # The high 16 bits hold the Unix mode; bit 0x10 is MS-DOS's directory flag.
    info.external_attr = ((file_type | mode) << 16) | (0x10 if is_dir else 0)
    info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
    return info
