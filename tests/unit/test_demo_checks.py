"""The demo checks each step against what happened, and runs from its own pristine example."""

from __future__ import annotations

import os

import tomllib
from pathlib import Path, PurePosixPath

import yaml

from lambdashift.demo import checks, pristine
from lambdashift.loadgen import CREATE, LIST, Request
from lambdashift.model import Traffic

REPO = Path(__file__).resolve().parents[2]
V1, V2 = Traffic("1"), Traffic("2")


def _release(**changes):
    rel = {"function": "notes-create", "published": True, "from": "1", "to": "2", "outcome": "succeeded",
           "reason": "succeeded: live serves 2", "exit_code": 0, "path": ["1 (100%)", "2 (100%)"],
           "alias_after": "2 (100%)", "prewarmed": True}
    return {**rel, **changes}


def test_a_blue_green_that_went_1_to_2_pre_warmed_is_as_described():
    assert checks.release(_release(), outcome="succeeded", exit_code=0, through=checks.path(V1, V2),
                          prewarmed=True) == []


def test_the_reported_run_after_the_quick_start_edit_fails_its_step_in_words():
    """`notes-create nothing to do: live already serves version 1`, exit 0: not a blue-green."""
    rel = _release(published=False, to="1", outcome="none", reason="", path=["1 (100%)"], alias_after="1 (100%)",
                   prewarmed=False)
    problems = checks.release(rel, outcome="succeeded", exit_code=0, through=checks.path(V1, V2), prewarmed=True)
    assert problems == [
        "publish made no new version of notes-create (its latest stayed 1)",
        "no rollout ran, not succeeded",
        "the alias went 1 (100%), not 1 (100%) → 2 (100%)",
        "live serves 1 (100%) afterwards, not 2 (100%)"]


def test_a_judged_canary_that_was_promoted_instead_of_rolled_back_is_not_as_described():
    rel = _release(function="notes-list", path=["1 (100%)", "1 (75%) + 2 (25%)", "2 (100%)"])
    problems = checks.release(rel, outcome="rolled_back", exit_code=1,
                              through=checks.path(V1, Traffic("1", "2", 0.25), V1), prewarmed=True)
    assert problems[0].startswith("its rollout ended succeeded (succeeded: live serves 2), not rolled_back")
    assert "deploy exited 0, not 1" in problems and "live serves 2 (100%) afterwards, not 1 (100%)" in problems


def test_serving_names_requests_another_version_answered_and_an_empty_window():
    ok = [Request(i, CREATE, 201, "2", 5.0) for i in range(5)]
    assert checks.serving(ok, CREATE, "2", what="create") == []
    mixed = ok + [Request(6, CREATE, 201, "1", 5.0), Request(7, CREATE, 500, "1", 5.0)]
    assert checks.serving(mixed, CREATE, "2", what="create") == [
        "of 6 create requests answered since, 1 by v1 (expected v2 alone)"]
    assert checks.serving(ok, LIST, "1", what="list") == [
        "no list request was answered to show which version serves it"]


def test_failures_outside_the_broken_release_are_named_and_its_own_are_allowed():
    broken = [Request(1, LIST, 500, "2", 5.0)]
    assert checks.failures(broken, allowed=(LIST, "2")) == []
    assert checks.failures(broken + [Request(2, CREATE, 0, "-", 5.0), Request(3, CREATE, 404, "1", 5.0)],
                           allowed=(LIST, "2")) == [
        "1 request(s) failed: 1 on POST /notes (v-, no answer)", "1 unexpected 4xx: 1 on POST /notes (404)"]


def test_a_canary_outside_its_interval_or_without_reads_is_not_as_described():
    inside = {"candidate": "2", "requests": 400, "served_by_candidate": 41, "observed": 0.1025,
              "interval_counts": [24, 60], "inside": True}
    assert checks.canary(inside, share=0.1) == []
    outside = {**inside, "served_by_candidate": 120, "observed": 0.3, "inside": False}
    assert checks.canary(outside, share=0.1) == [
        "v2 served 120 of 400 reads (30.0%), outside the 99.9% interval 24–60 of a 10% share"]
    assert checks.canary(None, share=0.1) == ["no read was answered while the alias gave the candidate 10%"]


def test_a_mixed_fleet_with_v1_on_both_sides_is_not_a_mixed_fleet():
    m = {"written_by": "1", "read_by": "1", "read_status": 200, "created_at_written": None,
         "created_at_read": None, "ok": False}
    assert checks.mixed(m, writer="2", reader="1") == [
        "the note was written by notes-create v1, not v2",
        "created_at did not pass through (written None, read None)"]


def test_the_first_failed_step_is_the_one_the_demo_names():
    steps = [{"label": "1", "problems": []}, {"label": "2", "problems": ["x"]}, {"label": "3", "problems": ["y"]}]
    assert checks.first_failed(steps)["label"] == "2" and checks.first_failed(steps[:1]) is None


# --- the pristine example --------------------------------------------------------------------

def test_the_demo_copies_its_pristine_example_not_a_users_file(tmp_path):
    root = pristine.copy_to(tmp_path / "notes")
    copied = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert Path("functions/create_note/v2/index.py") in copied and Path("shared/notes_common.py") in copied
    assert (root / "lambdashift.yaml").read_text() == (pristine.EXAMPLE / "lambdashift.yaml").read_text()
    assert yaml.safe_load((root / "lambdashift.yaml").read_text())["functions"]["notes-create"]["source"] == \
        "functions/create_note/v1"


def test_a_users_quick_start_edit_is_named_and_an_unrelated_config_is_not_compared(tmp_path):
    data = yaml.safe_load((pristine.EXAMPLE / "lambdashift.yaml").read_text())
    data["functions"]["notes-create"]["source"] = "functions/create_note/v2"  # the README's edit
    (tmp_path / "lambdashift.yaml").write_text(yaml.safe_dump(data))
    assert pristine.edited(tmp_path / "lambdashift.yaml") == (
        "functions.notes-create.source: 'functions/create_note/v2' there, "
        "'functions/create_note/v1' in the pristine copy")
    (tmp_path / "other.yaml").write_text("functions: {orders: {source: src}}\n")
    assert pristine.edited(tmp_path / "other.yaml") is None
    assert pristine.edited(pristine.EXAMPLE / "lambdashift.yaml") is None


def test_the_packaged_example_is_the_repositorys_examples_notes():
    """The handlers and shared code byte for byte (in the repository they are links to
    examples/notes, so this holds unless a link is replaced by a copy); lambdashift.yaml's
    functions, routes and tables as parsed (the demo writes each function's rollout itself)."""
    notes = REPO / "examples" / "notes"
    for packaged in (Path(d) / f for d, _, names in os.walk(pristine.EXAMPLE, followlinks=True)
                     for f in names if f.endswith(".py")):
        if "__pycache__" in packaged.parts:
            continue
        rel = packaged.relative_to(pristine.EXAMPLE)
        assert packaged.read_bytes() == (notes / rel).read_bytes(), f"{rel} differs from examples/notes/{rel}"
    for handler in (notes / "functions").rglob("index.py"):
        assert (pristine.EXAMPLE / handler.relative_to(notes)).is_file(), f"{handler} is not packaged"
    ours = yaml.safe_load((pristine.EXAMPLE / "lambdashift.yaml").read_text())
    theirs = yaml.safe_load((notes / "lambdashift.yaml").read_text())
    for key in ("alias", "target", "functions", "routes", "tables"):
        assert ours.get(key) == theirs.get(key), f"lambdashift.yaml's {key} differs from examples/notes"


def test_every_file_of_the_packaged_example_is_package_data():
    """`pip install .` (not editable) ships only what package-data names."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lambdashift"]
    package = pristine.EXAMPLE.parents[1]
    # os.walk follows the example's links to examples/notes (functions/, shared/) as a
    # wheel build does.
    files = [(Path(d) / f).relative_to(package).as_posix()
             for d, _, names in os.walk(pristine.EXAMPLE, followlinks=True) for f in names
             if "__pycache__" not in Path(d).parts]
    assert len(files) >= 9
    def shipped(f: str) -> bool:  # setuptools' globs: `*` stays within one directory
        return any(len(PurePosixPath(g).parts) == len(PurePosixPath(f).parts) and PurePosixPath(f).match(g)
                   for g in globs)
    assert [f for f in files if not shipped(f)] == []


def test_a_route_with_no_request_yet_passes_only_where_none_is_required():
    assert checks.serving([], LIST, "1", what="list", required=False) == []
    assert checks.serving([Request(1, LIST, 200, "2", 5.0)], LIST, "1", what="list", required=False) == [
        "of 1 list requests answered since, 1 by v2 (expected v1 alone)"]
