"""Every block in docs/ that shows what a command prints is either run by a test or marked
illustrative (issue 22): output nobody runs drifts from what happens.

A block shows output when it has a ``$ `` command followed by lines that are not commands,
continuations or comments, or when it holds lambdashift's own lines (``lambdashift: ...``).
Right before it (blank lines apart) stands ``<!-- snippet: tested by PATH -->``, where PATH
is a test that reads the docs' marks, or ``<!-- snippet: illustrative -->`` (ids, times,
paths and figures differ from run to run; the words are the code's).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SHELLISH = {"", "sh", "console", "text", "shell", "bash"}
_MARK = re.compile(r"^<!-- snippet: (tested by (\S+)|illustrative)( .*)? -->$")


def blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number of the fence, info string, lines) of every fenced block."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = re.match(r"^```(\S*)\s*$", lines[i])
        if match:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            out.append((i, match.group(1), lines[i + 1:end]))
            i = end + 1
        else:
            i += 1
    return out


def shows_output(info: str, body: list[str]) -> bool:
    """A transcript with output, or lambdashift's own lines."""
    if info not in SHELLISH:
        return False
    if any(line.startswith("lambdashift: ") for line in body):
        return True
    commands, continued, output = False, False, False
    for line in body:
        if line.startswith("$ "):
            commands, continued = True, line.endswith("\\")
        elif continued:
            continued = line.endswith("\\")
        elif line.strip() and not line.lstrip().startswith("#"):
            output = True
    return commands and output


def mark_of(lines: list[str], fence: int) -> str | None:
    """The snippet mark right above the fence (blank lines apart), if any."""
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return lines[j].strip() if j >= 0 and _MARK.match(lines[j].strip()) else None


def unmarked(text: str) -> list[int]:
    lines = text.splitlines()
    return [fence + 1 for fence, info, body in blocks(text)
            if shows_output(info, body) and mark_of(lines, fence) is None]


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_block_showing_output_is_tested_or_illustrative(page: Path) -> None:
    assert unmarked(page.read_text()) == [], (
        f"{page.name}: blocks at these lines show output but are neither run by a test nor "
        "marked `<!-- snippet: illustrative -->`")


def test_each_tested_mark_names_a_test_that_reads_the_marks() -> None:
    named = set()
    for page in DOCS.glob("*.md"):
        for line in page.read_text().splitlines():
            match = _MARK.match(line.strip())
            if match and match.group(2):
                named.add(match.group(2))
    assert named, "no block in docs/ is run by a test"
    for path in named:
        test = ROOT / path
        assert test.is_file() and "<!-- snippet: tested by" in test.read_text(), path


def test_the_checker_finds_an_unmarked_transcript_and_lambdashift_lines() -> None:
    page = ("text\n\n```\n$ lambdashift status\nnotes-get  live  1\n```\n\n"
            "```\nlambdashift: lambdashift.yaml: alias: bad\n```\n\n"
            "<!-- snippet: illustrative -->\n```\n$ ls\nfile\n```\n\n"
            "```sh\n$ make demo\n# comment only\n```\n\n```yaml\nalias: live\n```\n")
    assert unmarked(page) == [3, 8]


def test_the_demo_length_is_the_same_in_its_help_and_in_the_docs() -> None:
    """cli.md said about 1.5 minutes, `demo --help` about 2, `make demo` took about 4."""
    from lambdashift.cli.main import build_parser

    demo = build_parser()._subparsers._group_actions[0].choices["demo"]  # type: ignore[union-attr]
    fast = next(a for a in demo._actions if "--fast" in a.option_strings).help
    row = next(line for line in (DOCS / "cli.md").read_text().splitlines() if line.startswith("| `--fast`"))
    said = re.findall(r"(?:under|about) \d+(?:\.\d+)?", fast)
    assert said and all(words in row for words in said), (fast, row)
