"""The controller's deployment zip: deterministic, pure Python, and enough to run the controller.

The import test runs a fresh ``python -I`` with only the extracted zip and a stand-in for the
Lambda Python runtime's own packages (boto3 and what it needs) on ``sys.path``: not the test
environment's site-packages, so a package the zip forgot cannot be found there instead.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from lambdashift.aws.packaging import code_sha256
from lambdashift.controller.package import (BUNDLED, LEFT_OUT, OPTIONAL, build_controller_package,
                                            build_controller_zip)

#: What the Lambda Python runtime provides: boto3 and its dependencies.
RUNTIME_PROVIDED = ("boto3", "botocore", "jmespath", "s3transfer", "python-dateutil", "six",
                    "urllib3")


def test_two_builds_give_the_same_bytes_and_code_sha256():
    """AWS compares CodeSha256: an unchanged controller must not look changed."""
    first, second = build_controller_package(), build_controller_package()
    assert first.data == second.data == build_controller_zip()
    assert first.code_sha256 == second.code_sha256 == code_sha256(first.data)
    assert first.size == len(first.data) and first.files == second.files


def test_another_process_with_another_hash_seed_builds_the_same_zip():
    """No set or dict order of one interpreter leaks into the bytes."""
    code = ("from lambdashift.controller.package import build_controller_package as b; "
            "print(b().code_sha256)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == build_controller_package().code_sha256


def test_entries_are_sorted_dated_1980_with_fixed_modes():
    archive = zipfile.ZipFile(io.BytesIO(build_controller_zip()))
    infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {stat.S_IMODE(i.external_attr >> 16) for i in infos if not i.is_dir()}
    assert modes == {0o644}
    assert {stat.S_IMODE(i.external_attr >> 16) for i in infos if i.is_dir()} == {0o755}


def test_no_compiled_code_no_residue_no_boto3_no_cli_or_demo():
    files = build_controller_package().files
    assert [f for f in files if f.endswith((".so", ".pyc", ".pyo", ".pyd"))] == []
    assert [f for f in files if "__pycache__" in f or "/tests/" in f] == []
    assert [f for f in files if f.split("/")[0] in ("boto3", "botocore", "_yaml")] == []
    assert [f for f in files for part in LEFT_OUT if f.startswith(f"lambdashift/{part}/")] == []
    for needed in ("lambdashift/controller/handler.py", "lambdashift/rollout/release.py",
                   "yaml/__init__.py", "httpx/__init__.py", "certifi/cacert.pem",
                   "typing_extensions.py"):
        assert needed in files


def _closure_marker_env() -> dict[str, str]:
    # The controller's runtime (settings.RUNTIME, python3.11) decides the markers.
    return {"python_version": "3.11", "python_full_version": "3.11.0", "extra": "",
            "platform_python_implementation": "CPython", "implementation_name": "cpython",
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def test_every_dependency_of_a_bundled_package_is_bundled_or_in_the_runtime():
    """PyYAML, httpx and the closure of their requirements on python3.11, extras left out."""
    known = {n.lower().replace("_", "-") for n in (*BUNDLED, *OPTIONAL, *RUNTIME_PROVIDED)}
    missing = []
    for name in BUNDLED:
        for raw in metadata.requires(name) or ():
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate(_closure_marker_env()):
                continue
            if req.name.lower().replace("_", "-") not in known:
                missing.append(f"{name} needs {req.name}")
    assert missing == []


def _runtime_stand_in(root: Path) -> Path:
    """A directory with boto3 and its dependencies only, as the Lambda runtime has them."""
    root.mkdir()
    for name in RUNTIME_PROVIDED:
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or ()
                if not str(f).startswith("..") and ".dist-info" not in str(f)}
        for top in tops - {"__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (root / top).exists():
                (root / top).symlink_to(source)
    return root


#: Modules of the zip that import the local servers' packages (starlette, uvicorn), which the
#: zip does not carry: the emulator, the DynamoDB server, the local stack. The controller must
#: not import them (on the local stack it reaches the emulator over HTTP, like any client).
SERVER_MODULES = ("lambdashift.emulator.", "lambdashift.dynamodb.server", "lambdashift.local.stack")

PROBE = """
import importlib, json, pkgutil, sys
import lambdashift.controller.handler, lambdashift.controller.tick
import lambdashift.controller.settings, lambdashift.rollout.release, lambdashift.connections
import yaml, httpx
httpx.Client().close()  # builds its TLS context from certifi's bundle
files = {name: getattr(module, "__file__", None) or "" for name, module in sys.modules.items()}
failed, walked = {}, 0
for found in pkgutil.walk_packages(lambdashift.__path__, "lambdashift."):
    walked += 1
    try:
        importlib.import_module(found.name)
    except ImportError as exc:
        failed[found.name] = exc.name or str(exc)
print(json.dumps({"files": files, "libyaml": yaml.__with_libyaml__, "failed": failed,
                  "walked": walked}))
"""


def test_the_extracted_zip_imports_the_controller_in_a_clean_interpreter(tmp_path):
    """Only the zip and boto3's closure on sys.path (``-S``: not even site-packages)."""
    code = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(build_controller_zip())).extractall(code)
    runtime = _runtime_stand_in(tmp_path / "runtime")
    setup = f"import sys; sys.path[:0] = [{str(code)!r}, {str(runtime)!r}]\n"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", setup + PROBE], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["libyaml"] is False  # the pure-Python parser: no compiled _yaml shipped
    stdlib = (sys.base_prefix, sys.base_exec_prefix)
    outside = sorted(name for name, file in report["files"].items()
                     if file and not file.startswith((str(code), str(runtime), *stdlib)))
    assert outside == []
    assert report["files"]["lambdashift.controller.handler"].startswith(str(code))
    assert report["files"]["httpx"].startswith(str(code))
    # Every other module of lambdashift in the zip imports with what the zip carries.
    failed = report["failed"]
    assert report["walked"] > 100
    assert sorted(m for m in failed if not m.startswith(SERVER_MODULES)) == []
    assert set(failed.values()) <= {"starlette", "uvicorn"}
