"""The controller's deployment zip: lambdashift and the pure-Python packages it runs on.

``controller install``, the Terraform module and ``local up`` all deploy these bytes, so they
are deterministic like every package lambdashift builds (``aws/packaging.py``): entries
sorted, each dated 1980-01-01, files 0o644 and directories 0o755, one DEFLATE level. The
same installed sources give the same ``CodeSha256``, and an unchanged controller is not
updated.

What goes in, read from the installed environment (no network):

* the ``lambdashift`` package's sources, without build residue (``__pycache__``, ``.pyc``)
  and without :data:`LEFT_OUT`: the command line (it needs rich) and the demo (its example
  service and chart: matplotlib). The controller never imports them, and a module that
  imports a package the zip does not carry could not run in the function anyway;
* the third-party packages in :data:`BUNDLED` (PyYAML for the config code, httpx for
  webhooks and hooks over HTTP, and their dependencies), each a distribution's files
  as ``importlib.metadata`` lists them, pure Python only: no compiled extension (PyYAML
  without its ``_yaml`` module falls back to its pure-Python parser), no tests, no scripts;
  their METADATA and licence files come along so that ``importlib.metadata`` still
  answers in the function and their licences travel with them;
* not boto3 and botocore: the Lambda Python runtime provides them.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path, PurePosixPath

from lambdashift.aws.packaging import MAX_ZIPPED_BYTES, ZIP_TIMESTAMP, Package, code_sha256
from lambdashift.errors import PackagingError

__all__ = ["BUNDLED", "LEFT_OUT", "OPTIONAL", "build_controller_package", "build_controller_zip",
           "controller_files"]

#: Distributions the controller imports that the Lambda Python runtime lacks (it has boto3).
BUNDLED = ("PyYAML", "httpx", "httpcore", "h11", "anyio", "idna", "certifi", "typing_extensions")
#: Dependencies only some versions have (anyio before 4.12 needs sniffio): packed if installed.
OPTIONAL = ("sniffio",)
#: Parts of lambdashift (paths in the package) the controller never imports.
LEFT_OUT = ("cli", "demo")

_FILE_MODE = 0o644
_DIR_MODE = 0o755
_COMPRESS_LEVEL = 9
_CREATE_SYSTEM_UNIX = 3
_COMPILED = (".so", ".pyd", ".dll", ".dylib", ".pyc", ".pyo")
#: Top-level names a bundled distribution installs that are not pure Python (PyYAML's shim
#: around its compiled ``yaml._yaml``) or not code at all.
_SKIPPED_TOPS = frozenset({"_yaml", "__pycache__", "tests", "test"})
#: What a ``.dist-info`` directory keeps in the zip: the metadata and the licences.
_KEPT_METADATA = ("METADATA", "LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS", "licenses/")


def _wanted(arcname: str) -> bool:
    """Whether a path in the archive is code (or data) the function may load."""
    parts = PurePosixPath(arcname).parts
    if any(p == "__pycache__" or p.startswith(".") for p in parts):
        return False
    if any(p in ("tests", "test") for p in parts[:-1]):
        return False
    return not arcname.endswith(_COMPILED)


def _lambdashift_files() -> Iterator[tuple[str, Path]]:
    import lambdashift

    root = Path(lambdashift.__file__).resolve().parent
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in LEFT_OUT:
            continue
        arcname = f"lambdashift/{rel}"
        if _wanted(arcname):
            yield arcname, path


def _distribution_files(name: str) -> Iterator[tuple[str, Path]]:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        if name in OPTIONAL:
            return
        raise PackagingError(f"the controller needs {name}, which is not installed here "
                             f"(pip install {name})") from None
    for file in dist.files or ():
        arcname = PurePosixPath(file).as_posix()
        if arcname.startswith("../") or arcname.startswith("/"):
            continue  # console scripts in bin/: not importable code
        top, _, rest = arcname.partition("/")
        if top.endswith(".dist-info"):
            if not rest.startswith(_KEPT_METADATA):
                continue  # RECORD, INSTALLER, direct_url.json: how it was installed here
        elif top in _SKIPPED_TOPS or not _wanted(arcname):
            continue
        path = Path(dist.locate_file(file))
        if path.is_file():
            yield arcname, path


def controller_files() -> dict[str, Path]:
    """Archive path → file on disk of everything the zip holds; PackagingError on a clash."""
    entries: dict[str, Path] = {}
    sources = [_lambdashift_files(), *(_distribution_files(n) for n in (*BUNDLED, *OPTIONAL))]
    for source in sources:
        for arcname, path in source:
            if arcname in entries and entries[arcname] != path:
                raise PackagingError(f"{arcname} comes from both {entries[arcname]} and {path}")
            entries[arcname] = path
    return entries


def _info(arcname: str, *, is_dir: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
    info.create_system = _CREATE_SYSTEM_UNIX
    mode = (stat.S_IFDIR | _DIR_MODE) if is_dir else (stat.S_IFREG | _FILE_MODE)
    # The high 16 bits hold the Unix mode; 0x10 is MS-DOS's directory flag.
    info.external_attr = (mode << 16) | (0x10 if is_dir else 0)
    info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
    return info


def build_controller_package() -> Package:
    """The controller's zip with its ``CodeSha256`` and file list (``.size`` in bytes)."""
    entries = controller_files()
    files = tuple(sorted(entries))
    dirs = {"/".join(f.split("/")[:i]) + "/" for f in files for i in range(1, f.count("/") + 1)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname in sorted(set(files) | dirs):
            if arcname.endswith("/"):
                archive.writestr(_info(arcname, is_dir=True), b"")
                continue
            try:
                data = entries[arcname].read_bytes()
            except OSError as exc:
                raise PackagingError(f"cannot read {entries[arcname]}: {exc.strerror or exc}") from exc
            archive.writestr(_info(arcname, is_dir=False), data, compresslevel=_COMPRESS_LEVEL)
    data = buffer.getvalue()
    if len(data) > MAX_ZIPPED_BYTES:
        raise PackagingError(f"the controller's zip is {len(data)} bytes, over Lambda's "
                             f"{MAX_ZIPPED_BYTES} for a direct upload")
    return Package(data=data, code_sha256=code_sha256(data), files=files)


def build_controller_zip() -> bytes:
    """The controller's deployment zip: the same bytes on every build from the same sources."""
    return build_controller_package().data
