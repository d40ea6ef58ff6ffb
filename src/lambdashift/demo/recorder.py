"""The demo's view of every rollout notice, kept with the alias's traffic after it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lambdashift.demo.figures import Mark


class Recorder:
    """The shared reporter for every command the demo runs: it keeps a :class:`Mark` of each
    rollout notice (with the alias's traffic after it) and passes the notice on."""

    def __init__(self, inner: Any, describe: Callable[[Any], str]) -> None:
        self.inner = inner
        self.describe = describe  # a notice in the words the terminal shows
        self.marks: list[Mark] = []

    def __enter__(self) -> Recorder:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def notify(self, state: Any, note: Any) -> None:
        """Keep the notice, then show it."""
        self.marks.append(Mark(time.time(), state.function, note.event, self.describe(note),
                               state.traffic))
        self.inner.notify(state, note)

    def line(self, function: str, text: str) -> None:
        """A line of a command's own."""
        self.inner.line(function, text)
