"""What a running rollout shows while it runs: a live view on a terminal, plain lines elsewhere.

Both reporters take the engine's notices (``notify``) and the command's own lines (``line``):

* :class:`LiveReporter` (a TTY, no ``--plain``): a ``rich`` table redrawn a few times a
  second — per function the step, the traffic split, per version requests/s, errors and
  p99 over the last 10 s (from the target's metrics), the judge's latest verdict in words,
  and a progress bar for a pause or an analysis window. Notices still scroll above it.
* :class:`PlainReporter` (not a TTY, or ``--plain``): one line per change, and while a
  rollout waits a heartbeat line at least every :data:`HEARTBEAT` seconds saying what it
  waits for, so a CI log never looks hung.

A caller that runs several commands under one view (``lambdashift demo``) installs its
reporter with :func:`shared`; commands then report into it instead of making their own.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lambdashift.cli import progress
from lambdashift.core.machine import Notify, RolloutState
from lambdashift.model import AnalysisStep, BakeStep, PauseStep

#: A waiting rollout says so at least this often in plain mode (seconds).
HEARTBEAT = 10.0
#: Per-version figures cover this many past seconds.
STATS_WINDOW = 10.0

_TERMINAL = {"succeeded", "rolled_back", "failed", "interrupted"}

#: (function, alias, version, since, until) → (invocations, errors, p99 ms or None)
StatsSource = Callable[[str, str, str, float, float], tuple[int, int, float | None]]


def stats_from(metrics: Any) -> StatsSource | None:
    """A ``StatsSource`` over a metrics source with ``version_stats`` (None stays None)."""
    if metrics is None:
        return None

    def stats(function: str, alias: str, version: str, since: float, until: float):  # noqa: ANN202
        s = metrics.version_stats(function, alias, version, since, until)
        p99 = s.latency.quantile(0.99) if s.latency is not None and s.latency.total else None
        return s.invocations, s.errors, p99
    return stats


@dataclass
class _Row:
    """One function's rollout as last heard of."""

    state: RolloutState
    verdict: str = ""
    last_line: float = field(default_factory=time.monotonic)
    stats: dict[str, tuple[int, int, float | None]] = field(default_factory=dict)
    outcome: str = ""


def step_text(state: RolloutState) -> str:
    """``step 2/3: pause 30s`` for the rollout's current step."""
    return f"step {state.step_index + 1}/{len(state.steps)}: {state.steps[state.step_index]}"


def wait_progress(state: RolloutState, now: float) -> tuple[float, str] | None:
    """How far a pause or an analysis window has come (0..1) and its words; None otherwise."""
    step = state.steps[state.step_index]
    started = state.step_started_at
    if started is None or state.phase.value != "progressing":
        return None
    if isinstance(step, PauseStep) and state.wait_until:
        total = max(1e-9, state.wait_until - started)
        left = max(0.0, state.wait_until - now)
        return min(1.0, (now - started) / total), f"pause, {left:.0f} s left"
    if isinstance(step, BakeStep):
        elapsed = now - started
        return (min(1.0, elapsed / step.seconds),
                f"bake, {min(elapsed, step.seconds):.0f} s of {step.seconds:.0f} s")
    if isinstance(step, AnalysisStep):
        policy = step.policy
        if policy is None:  # a step made by hand: the analyzer reports it, no bar here
            return None
        elapsed = now - started
        after = policy.promote_after_s
        if after is not None and elapsed < after <= policy.min_duration_s:  # a judged pause
            return elapsed / after, f"analysis, {elapsed:.0f} s of {after:.0f} s, then on unless harm is seen"
        if elapsed < policy.min_duration_s:
            return elapsed / policy.min_duration_s, f"analysis, {elapsed:.0f} s of at least {policy.min_duration_s:.0f} s"
        # promote_after decides by then (it is at most max_wait): the bar fills towards it
        limit = policy.promote_after_s if policy.promote_after_s is not None else policy.max_wait_s
        return (min(1.0, elapsed / limit),
                f"analysis, {elapsed:.0f} s (decides by {limit:.0f} s at the latest)")
    return None


def verdict_words(note: Notify) -> str:
    """The judge's verdict as a reader would say it."""
    verdict = str(note.details.get("verdict"))
    reasons = list(note.details.get("reasons", ())) or ["no reason given"]
    lead = {"promote": "healthy: promote", "rollback": "worse: roll back",
            "continue": "not sure yet", "inconclusive": "cannot tell"}.get(verdict, verdict)
    return f"{lead} ({progress.clip(str(reasons[0]), 120)})"


def _stats_text(stats: dict[str, tuple[int, int, float | None]]) -> str:
    parts = []
    for version, (n, errors, p99) in stats.items():
        p = f"{p99:.0f} ms" if p99 is not None else "-"
        parts.append(f"v{version} {n / STATS_WINDOW:.1f} req/s, {errors} errors, p99 {p}")
    return "; ".join(parts)


class _Base:
    """Rows by function, a background thread, and nesting (a shared reporter is entered often)."""

    def __init__(self, stats: StatsSource | None = None, *, tick: float = 1.0) -> None:
        self.rows: dict[str, _Row] = {}
        self._stats = stats
        self._tick = tick
        self._lock = threading.RLock()
        self._depth = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.header: Callable[[], str] | None = None

    def __enter__(self) -> _Base:
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._stop.clear()
                self._open()
                self._thread = threading.Thread(target=self._loop, daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            last = self._depth == 0
        if last:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self._close()

    def notify(self, state: RolloutState, note: Notify) -> None:
        """The engine's notify callback."""
        with self._lock:
            row = self.rows.get(state.function)
            if row is None or note.event == "started":
                row = self.rows[state.function] = _Row(state)
            row.state = state
            if note.event == "verdict":
                row.verdict = verdict_words(note)
            if note.event in _TERMINAL:
                row.outcome = progress.describe(note)
        self._changed(state, note)

    def line(self, function: str, text: str) -> None:
        """A line of the command's own (nothing to do, an error)."""
        progress.line(function, text)

    def show(self, state: RolloutState, *, verdict: str | None = None,
             outcome: str | None = None) -> None:
        """Set a row from a state read elsewhere (``watch`` reads the store), printing nothing."""
        with self._lock:
            row = self.rows.get(state.function)
            if row is None or row.state.rollout_id != state.rollout_id:
                row = self.rows[state.function] = _Row(state)
            row.state = state
            if verdict is not None:
                row.verdict = verdict
            if outcome is not None:
                row.outcome = outcome

    def _refresh_stats(self) -> None:
        if self._stats is None:
            return
        now = time.time()
        with self._lock:
            active = [(f, r.state) for f, r in self.rows.items() if not r.outcome]
        for function, state in active:
            found = {}
            for version in dict.fromkeys((state.stable, state.candidate)):
                try:
                    found[version] = self._stats(function, state.alias, version, now - STATS_WINDOW, now)
                except Exception:  # noqa: BLE001 - a view must never stop a rollout
                    continue
            with self._lock:
                self.rows[function].stats = found

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            self._refresh_stats()
            self._periodic()

    # What the subclasses do.
    def _open(self) -> None: ...
    def _close(self) -> None: ...
    def _changed(self, state: RolloutState, note: Notify) -> None: ...
    def _periodic(self) -> None: ...


class PlainReporter(_Base):
    """One line per change; a heartbeat while a rollout waits."""

    def __init__(self, stats: StatsSource | None = None, *, heartbeat: float = HEARTBEAT) -> None:
        super().__init__(stats, tick=min(1.0, heartbeat / 2))
        self.heartbeat = heartbeat

    def _changed(self, state: RolloutState, note: Notify) -> None:
        if progress.printer(state, note):
            with self._lock:
                self.rows[state.function].last_line = time.monotonic()

    def line(self, function: str, text: str) -> None:
        """A line of the command's own."""
        progress.line(function, text)
        with self._lock:
            if function in self.rows:
                self.rows[function].last_line = time.monotonic()

    def _periodic(self) -> None:
        now = time.monotonic()
        due = []
        with self._lock:
            for function, row in self.rows.items():
                if not row.outcome and now - row.last_line >= self.heartbeat:
                    row.last_line = now
                    due.append((function, row))
        for function, row in due:
            waiting = wait_progress(row.state, time.time())
            words = [step_text(row.state), f"traffic {row.state.traffic}"]
            if waiting:
                words.append(f"waiting: {waiting[1]}")
            if row.stats:
                words.append(_stats_text(row.stats))
            if row.verdict:
                words.append(f"judge: {row.verdict}")
            progress.line(function, "… " + "; ".join(words))


class LiveReporter(_Base):
    """A rich live table on the terminal (stderr)."""

    def __init__(self, stats: StatsSource | None = None, *, console: Any = None) -> None:
        super().__init__(stats, tick=1.0)
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._live: Any = None

    def _open(self) -> None:
        from rich.live import Live

        self._live = Live(self.render(), console=self.console, refresh_per_second=4,
                          get_renderable=self.render, transient=False)
        self._live.start()

    def _close(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
            self._live.stop()
            self._live = None

    def _changed(self, state: RolloutState, note: Notify) -> None:
        if (note.event == "verdict" and note.details.get("verdict") == "continue"
                and not progress.is_forecast(note)):
            return  # the table shows it; the log keeps decisions (and what a step can catch)
        self.line(state.function, progress.describe(note))

    def line(self, function: str, text: str) -> None:
        """A line printed above the table."""
        self.console.print(f"{time.strftime('%H:%M:%S')}  {function:<20} {text}",
                           markup=False, highlight=False)

    def render(self) -> Any:
        """The table as it is now."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.header() if self.header else None, expand=True,
                      title_justify="left")
        for name in ("function", "step", "traffic", "per version (last 10 s)", "judge", "wait"):
            table.add_column(name, overflow="fold")
        now = time.time()
        with self._lock:
            rows = list(self.rows.items())
        for function, row in rows:
            waiting = wait_progress(row.state, now) if not row.outcome else None
            wait_cell: Any = ""
            if waiting:
                bar = ProgressBar(total=1.0, completed=waiting[0], width=20)
                wait_cell = Table.grid()
                wait_cell.add_row(bar)
                wait_cell.add_row(Text(waiting[1]))
            stats = "\n".join(_stats_text({v: s}) for v, s in row.stats.items()) if not row.outcome else ""
            table.add_row(function, row.outcome or step_text(row.state), str(row.state.traffic),
                          stats, row.verdict, wait_cell)
        return table


_shared: _Base | None = None


@contextlib.contextmanager
def shared(reporter: _Base) -> Iterator[_Base]:
    """Commands run inside report into ``reporter`` (and it stays open across them)."""
    global _shared
    previous, _shared = _shared, reporter
    try:
        with reporter:
            yield reporter
    finally:
        _shared = previous


def reporter_for(*, plain: bool, metrics: Any, local: bool) -> _Base:
    """The shared reporter if one is installed; else live on a TTY unless ``plain``.

    Per-version figures come from the target's metrics on the local stack (cheap); on AWS
    they would cost CloudWatch calls every second, so the view shows steps and verdicts only.
    """
    if _shared is not None:
        return _shared
    stats = stats_from(metrics) if local else None
    if plain or not sys.stderr.isatty():
        return PlainReporter(stats)
    return LiveReporter(stats)
