"""Deterministic deployment packages: same sources, same bytes, same CodeSha256."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
import yaml

from lambdashift.aws.packaging import ZIP_TIMESTAMP, Package, build_zip, code_sha256
from lambdashift.errors import PackagingError

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small function source tree with the residue a real checkout carries."""
    root = tmp_path / "fn"
    (root / "lib" / "deep").mkdir(parents=True)
    (root / "index.py").write_text("def handler(event, context):\n    return {}\n")
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "deep" / "data.json").write_text('{"a": 1}\n')
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "index.cpython-312.pyc").write_bytes(b"\x00bytecode")
    (root / "lib" / "helper.pyc").write_bytes(b"\x00bytecode")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def entries(package: Package) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(package.data)).infolist()


def test_same_source_gives_same_bytes_and_code_sha256(source: Path) -> None:
    first, second = build_zip(source), build_zip(source)
    assert first.data == second.data
    assert first.code_sha256 == second.code_sha256


def test_code_sha256_is_base64_of_sha256_like_aws(source: Path) -> None:
    package = build_zip(source)
    expected = base64.b64encode(hashlib.sha256(package.data).digest()).decode()
    assert package.code_sha256 == expected == code_sha256(package.data)
    assert len(base64.b64decode(package.code_sha256)) == 32


def test_mtimes_and_non_executable_mode_bits_do_not_change_the_hash(source: Path) -> None:
    before = build_zip(source)
    for path in source.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    (source / "index.py").chmod(0o600)
    (source / "lib" / "__init__.py").chmod(0o664)
    (source / "lib").chmod(0o700)
    assert build_zip(source).code_sha256 == before.code_sha256


def test_a_copy_in_another_directory_gives_the_same_hash(source: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(source, copy)
    assert build_zip(copy).code_sha256 == build_zip(source).code_sha256


def test_executable_files_keep_0755_and_that_is_part_of_the_hash(source: Path) -> None:
    (source / "bootstrap").write_text("#!/bin/sh\n")
    plain = build_zip(source)
    (source / "bootstrap").chmod(0o755)
    executable = build_zip(source)
    modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in entries(executable)}
    assert modes["bootstrap"] == 0o755
    assert modes["index.py"] == 0o644
    assert plain.code_sha256 != executable.code_sha256


def test_entries_are_sorted_with_fixed_timestamp_and_modes(source: Path) -> None:
    infos = entries(build_zip(source))
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert names == ["index.py", "lib/", "lib/__init__.py", "lib/deep/", "lib/deep/data.json"]
    for info in infos:
        assert info.date_time == ZIP_TIMESTAMP
        assert info.create_system == 3
        mode = info.external_attr >> 16
        if info.is_dir():
            assert stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o755
        else:
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644


def test_pycache_pyc_and_dotfiles_are_excluded(source: Path) -> None:
    package = build_zip(source)
    assert package.files == ("index.py", "lib/__init__.py", "lib/deep/data.json")
    assert not any("pycache" in n or n.endswith(".pyc") or "/." in f"/{n}" for n in package.files)
    # Adding more residue does not change the package.
    (source / "lib" / "__pycache__").mkdir()
    (source / "lib" / "__pycache__" / "x.pyc").write_bytes(b"x")
    (source / ".DS_Store").write_bytes(b"x")
    assert build_zip(source).code_sha256 == package.code_sha256


def test_the_zip_extracts_to_the_sources(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    zipfile.ZipFile(io.BytesIO(build_zip(source).data)).extractall(out)
    assert (out / "index.py").read_text() == (source / "index.py").read_text()
    assert (out / "lib" / "deep" / "data.json").read_text() == '{"a": 1}\n'


def test_include_files_go_to_the_root_of_the_package(source: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "common.py").write_text("X = 1\n")
    (shared / "pkg").mkdir()
    (shared / "pkg" / "__init__.py").write_text("")
    (shared / "pkg" / "__pycache__").mkdir()
    (shared / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"x")
    package = build_zip(source, include=[shared / "common.py", shared / "pkg"])
    assert package.files == (
        "common.py",
        "index.py",
        "lib/__init__.py",
        "lib/deep/data.json",
        "pkg/__init__.py",
    )
    assert package.code_sha256 != build_zip(source).code_sha256
    # The include order given does not matter either.
    reordered = build_zip(source, include=[shared / "pkg", shared / "common.py"])
    assert reordered.code_sha256 == package.code_sha256


def test_an_include_that_collides_with_a_source_file_is_refused(
    source: Path, tmp_path: Path
) -> None:
    other = tmp_path / "index.py"
    other.write_text("")
    with pytest.raises(PackagingError, match=r"collides") as caught:
        build_zip(source, include=[other])
    assert str(other) in str(caught.value)


def test_missing_include_names_the_path(source: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "common.py"
    with pytest.raises(PackagingError, match="include path does not exist") as caught:
        build_zip(source, include=[missing])
    assert str(missing) in str(caught.value)


def test_missing_source_directory_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "functions" / "gone"
    with pytest.raises(PackagingError, match="does not exist") as caught:
        build_zip(missing)
    assert str(missing) in str(caught.value)


def test_a_file_as_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.py"
    path.write_text("")
    with pytest.raises(PackagingError, match="not a directory") as caught:
        build_zip(path)
    assert str(path) in str(caught.value)


def test_an_empty_package_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "__pycache__").mkdir(parents=True)
    (empty / "__pycache__" / "a.pyc").write_bytes(b"x")
    (empty / ".hidden").write_text("x")
    with pytest.raises(PackagingError, match="nothing to package") as caught:
        build_zip(empty)
    assert str(empty) in str(caught.value)


def test_size_limits_name_the_source(source: Path) -> None:
    (source / "big.bin").write_bytes(os.urandom(4096))
    with pytest.raises(PackagingError, match="unzipped, over the limit") as caught:
        build_zip(source, max_unzipped_bytes=1024)
    assert str(source) in str(caught.value)
    with pytest.raises(PackagingError, match="zipped, over the limit") as caught:
        build_zip(source, max_zipped_bytes=1024)
    assert str(source) in str(caught.value)


def test_a_symlink_loop_is_refused(source: Path) -> None:
    (source / "lib" / "loop").symlink_to(source)
    with pytest.raises(PackagingError, match="symbolic link loop"):
        build_zip(source)


def test_write_is_atomic_and_leaves_an_identical_file_alone(source: Path, tmp_path: Path) -> None:
    package = build_zip(source)
    target = tmp_path / "out" / "fn.zip"
    package.write(target)
    assert target.read_bytes() == package.data
    os.utime(target, (1_000_000_000, 1_000_000_000))
    package.write(target)
    assert target.stat().st_mtime == 1_000_000_000
    assert [p.name for p in target.parent.iterdir()] == ["fn.zip"]


def notes_packages(root: Path) -> dict[str, Package]:
    """Build every function of the notes service as its lambdashift.yaml describes it."""
    config = yaml.safe_load((root / "lambdashift.yaml").read_text())
    return {
        name: build_zip(
            root / spec["source"], include=[root / p for p in spec.get("include", [])]
        )
        for name, spec in config["functions"].items()
    }


def test_notes_service_packages_are_reproducible() -> None:
    first, second = notes_packages(NOTES), notes_packages(NOTES)
    assert {k: p.code_sha256 for k, p in first.items()} == {
        k: p.code_sha256 for k, p in second.items()
    }
    for name, package in first.items():
        assert "index.py" in package.files, name
        assert "notes_common.py" in package.files, name
    assert len({p.code_sha256 for p in first.values()}) == len(first)


def test_changing_one_handler_changes_only_its_own_package(tmp_path: Path) -> None:
    copy = tmp_path / "notes"
    shutil.copytree(NOTES, copy, ignore=shutil.ignore_patterns("infra"))
    before = notes_packages(copy)
    config = yaml.safe_load((copy / "lambdashift.yaml").read_text())
    handler = copy / config["functions"]["notes-get"]["source"] / "index.py"
    handler.write_text(handler.read_text() + "\n# a change\n")
    after = notes_packages(copy)
    changed = sorted(name for name in before if before[name].code_sha256 != after[name].code_sha256)
    assert changed == ["notes-get"]
