"""The docs' shell transcripts marked as tested run as written, and print what they show.

A block preceded by ``<!-- snippet: tested by tests/functional/test_docs_snippets.py -->`` is
a transcript: ``$ `` command lines (``\\`` continues one) each followed by the output it
prints, stdout and stderr together as on a terminal. Each runs in one bash session (so an
``export`` carries over) in its own directory, with the context the page describes: an
emulator (whose free port replaces ``127.0.0.1:9001``) or a copy of the notes service with
no AWS credentials. Every other block that shows output is marked illustrative
(``tests/unit/test_docs_snippets_marked.py`` checks that each one is one or the other).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdashift.emulator.server import start_process

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NOTES = ROOT / "examples" / "notes"
MARK = "<!-- snippet: tested by tests/functional/test_docs_snippets.py -->"
WRITTEN = "http://127.0.0.1:9001"
_FENCE = re.compile(r"^```\S*\s*$")


def marked_blocks(text: str) -> list[list[str]]:
    """The lines of every code block right after the tested mark, in page order."""
    lines, blocks = text.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        start = next(j for j in range(i + 1, len(lines)) if lines[j].strip())
        assert _FENCE.match(lines[start]), f"the mark at line {i + 1} is not followed by a block"
        end = next(j for j in range(start + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(lines[start + 1:end])
    return blocks


def transcript(block: list[str]) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown after it) for each ``$`` command of a block."""
    steps: list[tuple[str, list[str]]] = []
    continued = False
    for line in block:
        if continued:
            steps[-1] = (steps[-1][0] + "\n" + line, steps[-1][1])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command: {line!r}"
            steps[-1][1].append(line)
        continued = line.endswith("\\") and (continued or line.startswith("$ "))
    return steps


def run_transcript(block: list[str], cwd: Path, env: dict[str, str],
                   endpoint: str | None = None) -> list[tuple[str, list[str], list[str]]]:
    """Run the commands in one bash session: (command, shown, printed) for each."""
    steps = transcript(block)
    script = []
    for i, (command, _) in enumerate(steps):
        if endpoint:
            command = command.replace(WRITTEN, endpoint)
        script += [f"echo '@@step {i}@@'", f"{{ {command}\n}} 2>&1"]
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    printed = re.split(r"^@@step \d+@@\n", done.stdout, flags=re.M)[1:]
    assert len(printed) == len(steps), done.stdout + done.stderr
    out = []
    for (command, shown), text in zip(steps, printed):
        lines = text.splitlines()
        if endpoint:
            lines = [line.replace(endpoint, WRITTEN) for line in lines]
        out.append((command, shown, lines))
    return out


def base_env() -> dict[str, str]:
    """A user's shell with this checkout's lambdashift, python and aws on PATH, and no AWS
    settings of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDASHIFT_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    return env


def assert_as_shown(results: list[tuple[str, list[str], list[str]]]) -> None:
    for command, shown, printed in results:
        assert printed == shown, f"$ {command}\nshown:\n" + "\n".join(shown) + \
            "\nprinted:\n" + "\n".join(printed)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    emulator = start_process(tmp_path_factory.mktemp("docs-emu") / "data", port=0)
    try:
        yield emulator.endpoint
    finally:
        emulator.stop()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    shutil.copytree(NOTES, root, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__", ".terraform"))
    return root


#: What each page's tested blocks need, in page order: the tests below, by name.
CONTEXTS = {
    "emulator.md": ["aws cli against an emulator"],
    "aws-setup.md": ["aws target, region but no credentials", "aws target, no region"],
}


def test_every_tested_block_has_its_context_here() -> None:
    marked = {page.name: len(marked_blocks(page.read_text())) for page in DOCS.glob("*.md")}
    assert {name: n for name, n in marked.items() if n} == {k: len(v) for k, v in CONTEXTS.items()}


def test_the_emulator_pages_aws_cli_transcript(endpoint: str, tmp_path: Path) -> None:
    """docs/emulator.md: builds hello.zip, sees the function Pending at first, creates the
    live alias and version 2, then sends version 2 10% of live."""
    [block] = marked_blocks((DOCS / "emulator.md").read_text())
    assert_as_shown(run_transcript(block, tmp_path, base_env(), endpoint))


def test_the_aws_setup_pages_missing_credentials_and_region(notes: Path) -> None:
    """docs/aws-setup.md: no credentials (a region from the environment), then no region at
    all: one line each, before any call to AWS."""
    credentials, region = marked_blocks((DOCS / "aws-setup.md").read_text())
    assert_as_shown(run_transcript(credentials, notes, {**base_env(), "AWS_DEFAULT_REGION": "eu-west-1"}))
    assert_as_shown(run_transcript(region, notes, base_env()))


def test_the_transcript_reader_can_fail(tmp_path: Path) -> None:
    """A block whose output is not what the command prints fails the comparison."""
    wrong = ["$ echo one \\", "  two", "one three"]
    assert transcript(wrong) == [("echo one \\\n  two", ["one three"])]
    with pytest.raises(AssertionError) as caught:
        assert_as_shown(run_transcript(wrong, tmp_path, base_env()))
    assert "one three" in str(caught.value) and "one two" in str(caught.value)
