"""One release of the demo, through the library (``rollout.release``), shown as ``lambdashift
publish FN`` and ``lambdashift deploy FN --poll 0.25`` would show it: the demo calls no
command line. The terminal (``cli.demo.DemoTerminal``) is handed in, so that the demo package
imports nothing of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lambdashift.config import load_config
from lambdashift.rollout.release import Release, published_line
from lambdashift.connections import open_target

__all__ = ["ship"]

#: How often a waiting rollout of the demo looks at metrics and signals (``--poll``).
POLL = 0.25


class _Progress:
    """The release's progress: notices to the demo's recorder; a line about one function to
    the recorder while rollouts run (the live view), else a plain line; notes on stderr."""

    def __init__(self, recorder: Any, terminal: Any) -> None:
        self.recorder, self.terminal = recorder, terminal
        self.running = False

    def notify(self, state: Any, note: Any) -> None:
        self.recorder.notify(state, note)

    def line(self, function: str, text: str) -> None:
        (self.recorder.line if self.running else self.terminal.line)(function, text)

    def note(self, text: str) -> None:
        self.terminal.note(text)


def _release(config_path: Path, progress: _Progress) -> Release:
    config = load_config(config_path)
    target = open_target(config)
    progress.note(f"target: {target.description}")
    return Release(config, target, poll=POLL, progress=progress)


def ship(config_path: Path, function: str, recorder: Any, terminal: Any) -> int:
    """Publish ``function``, then roll its new version out; the exit code the two commands
    would have ended with (0 done, 1 rolled back or failed, 2 a usage error)."""
    progress = _Progress(recorder, terminal)

    def publish() -> int:
        for result in _release(config_path, progress).publish([function]):
            print(published_line(result))
        sys.stdout.flush()
        return 0

    def deploy() -> int:
        release = _release(config_path, progress)

        def around(work: Any) -> Any:
            progress.running = True
            try:
                return terminal.run_interruptibly(release.stop, work)
            finally:
                progress.running = False
        result = release.deploy([function], around=around)
        if result.blocked:
            return 1
        assert result.outcome is not None
        return result.outcome.exit_code

    code = terminal.guarded(publish)
    return terminal.guarded(deploy) if code == 0 else code
