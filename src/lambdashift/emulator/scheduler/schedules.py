"""An EventBridge Scheduler subset (API 2021-06-30) that invokes the emulator's functions.

Served: CreateSchedule, GetSchedule, UpdateSchedule, DeleteSchedule and ListSchedules, in
the ``default`` schedule group, with ``rate()`` and ``at()`` expressions and Lambda function
targets, as boto3's ``scheduler`` client sends them. A schedule that is due invokes its
target asynchronously (``InvocationType: Event``), as Scheduler's templated Lambda target
does, with the target's ``Input`` as the event (``{}`` when it has none).

AWS's rules kept: names and groups follow the service model's pattern; a rate is at least
one minute (``min_rate`` lowers it for local tests only, and then allows ``seconds``);
``at()`` fires once, then the schedule is deleted when ``ActionAfterCompletion`` is
``DELETE``; a ``DISABLED`` schedule never fires; ``StartDate``/``EndDate`` bound the firing.
A rate schedule first fires one period after its start (``StartDate``, else its creation
or last update). Schedules persist in the data directory; after a restart a rate schedule
goes on from the next period, missed ones are not made up; one whose rate is under the
restarted emulator's smallest rate is kept but does not fire (a warning says so).
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdashift.emulator.awslambda.paging import page
from lambdashift.emulator.errors import (
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)

NAME_PATTERN = r"[0-9a-zA-Z-_.]+"
ROLE_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+"
LAMBDA_TARGET = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?")
DEFAULT_GROUP = "default"
#: AWS's smallest rate: one minute.
AWS_MIN_RATE = 60.0

_UNITS = {"second": 1, "seconds": 1, "minute": 60, "minutes": 60, "hour": 3600, "hours": 3600,
          "day": 86400, "days": 86400}
_RATE = re.compile(r"rate\(\s*(\d+)\s+([a-z]+)\s*\)")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


@dataclass(frozen=True)
class Timing:
    """When a schedule fires: every ``period`` seconds, or once ``at`` (epoch seconds)."""

    period: float | None = None
    at: float | None = None


def parse_expression(expression: Any, tz: str | None, min_rate: float) -> Timing:
    """``rate(N unit)`` or ``at(yyyy-mm-ddThh:mm:ss)``; a ValidationException otherwise."""
    if not isinstance(expression, str) or not 1 <= len(expression) <= 256:
        raise ValidationException("ScheduleExpression must be a string of 1 to 256 characters")
    if expression.startswith("cron("):
        raise ValidationException(
            f"Invalid Schedule Expression {expression}: the lambdashift emulator serves rate() and "
            "at() expressions, not cron()")
    rate = _RATE.fullmatch(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        seconds = value * _UNITS.get(unit, 0)
        local_units = unit.startswith("second")
        if value < 1 or unit not in _UNITS or (local_units and min_rate >= AWS_MIN_RATE):
            raise ValidationException(f"Invalid Schedule Expression {expression}.")
        if seconds < min_rate:
            raise ValidationException(
                f"Invalid Schedule Expression {expression}: the smallest rate is "
                f"{'1 minute' if min_rate >= AWS_MIN_RATE else f'{min_rate:g} seconds'}.")
        return Timing(period=float(seconds))
    at = _AT.fullmatch(expression)
    if at:
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=_zone(tz))
        return Timing(at=when.timestamp())
    raise ValidationException(f"Invalid Schedule Expression {expression}.")


def _zone(name: str | None) -> Any:
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationException(f"Invalid ScheduleExpressionTimezone {name}.") from None


def _check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not re.fullmatch(NAME_PATTERN, value):
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}")
    return value


def _timestamp(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ValidationException(f"{where} must be a timestamp")


class ScheduleRules:
    """Schedules of one emulated account and region: AWS's rules, state and persistence."""

    def __init__(self, data_dir: Path, *, region: str, account_id: str,
                 min_rate: float = AWS_MIN_RATE) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.region, self.account_id, self.min_rate = region, account_id, min_rate
        self._db = sqlite3.connect(data_dir / "scheduler.db", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self._schedules: dict[str, dict[str, Any]] = {
            name: json.loads(doc) for name, doc in self._db.execute("SELECT name, doc FROM schedules")}
        now = time.time()
        #: Next firing time of each schedule (epoch seconds); rebuilt, not persisted.
        self._due: dict[str, float | None] = {}
        for name, doc in self._schedules.items():
            try:
                self._due[name] = self._first_due(doc, now)
            except ValidationException as exc:
                # Made under a smaller --schedule-min-rate than this run's: kept (Get, List,
                # Update and Delete see it) but never fired, rather than stopping the emulator.
                self._due[name] = None
                print(f"lambdashift emulator: warning: schedule {name} does not fire: "
                      f"{exc.message} (it was made under a smaller --schedule-min-rate than "
                      f"this run's {min_rate:g} s: update or delete it)", file=sys.stderr,
                      flush=True)
        #: Deliveries made and failed since start (``/_lambdashift/scheduler``).
        self.delivered = 0
        self.failed = 0

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def arn(self, name: str) -> str:
        """The schedule's ARN."""
        return f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/{DEFAULT_GROUP}/{name}"

    # -- the API -----------------------------------------------------------------------

    def create(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """CreateSchedule."""
        _check_name(name, "name")
        doc = self._checked(name, params)
        if name in self._schedules:
            raise ConflictException(f"Schedule {name} already exists.")
        now = time.time()
        doc["CreationDate"] = doc["LastModificationDate"] = now
        self._put(name, doc, now)
        return {"ScheduleArn": self.arn(name)}

    def update(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateSchedule: every setting is replaced by the request's, as on AWS."""
        current = self._get(name, params.get("GroupName"))
        doc = self._checked(name, params)
        now = time.time()
        doc["CreationDate"], doc["LastModificationDate"] = current["CreationDate"], now
        self._put(name, doc, now)
        return {"ScheduleArn": self.arn(name)}

    def get(self, name: str, group: str | None) -> dict[str, Any]:
        """GetSchedule."""
        return {"Arn": self.arn(name), **self._get(name, group)}

    def delete(self, name: str, group: str | None) -> None:
        """DeleteSchedule."""
        self._get(name, group)
        self._remove(name)

    def list(self, group: str | None, prefix: str | None, state: str | None,
             token: str | None, max_results: Any) -> dict[str, Any]:
        """ListSchedules, by name, filtered by group, name prefix and state."""
        if group is not None:
            self._check_group(group)
        items = [{"Arn": self.arn(n), "Name": n, "GroupName": DEFAULT_GROUP, "State": d["State"],
                  "CreationDate": d["CreationDate"], "LastModificationDate": d["LastModificationDate"],
                  "Target": {"Arn": d["Target"]["Arn"]}}
                 for n, d in sorted(self._schedules.items())
                 if (not prefix or n.startswith(prefix)) and (not state or d["State"] == state)]
        size = None if max_results is None else int(max_results)
        chunk, next_token = page(items, token, size)
        return {"Schedules": chunk, **({"NextToken": next_token} if next_token else {})}

    # -- firing -------------------------------------------------------------------------

    def due(self, now: float) -> list[tuple[str, str, bytes]]:
        """Schedules due at ``now`` as (name, target ARN, event), each moved to its next time
        (or deleted, for a finished ``at()`` with ``ActionAfterCompletion: DELETE``)."""
        fired = []
        for name, when in list(self._due.items()):
            if when is None or when > now:
                continue
            doc = self._schedules[name]
            target = doc["Target"]
            fired.append((name, target["Arn"], target.get("Input", "{}").encode()))
            timing = self._timing(doc)
            if timing.period is not None:
                nxt = when + timing.period * max(1, int((now - when) // timing.period) + 1)
                end = doc.get("EndDate")
                self._due[name] = nxt if end is None or nxt <= end else None
            elif doc.get("ActionAfterCompletion") == "DELETE":
                self._remove(name)
            else:
                self._due[name] = None
        return fired

    def next_due(self) -> float | None:
        """The earliest firing time of any schedule (None: none will fire)."""
        times = [t for t in self._due.values() if t is not None]
        return min(times) if times else None

    # -- internals ----------------------------------------------------------------------

    def _check_group(self, group: Any) -> None:
        _check_name(group, "groupName")
        if group != DEFAULT_GROUP:
            raise ResourceNotFoundException(f"Schedule group {group} does not exist.")

    def _get(self, name: str, group: str | None) -> dict[str, Any]:
        _check_name(name, "name")
        if group is not None:
            self._check_group(group)
        doc = self._schedules.get(name)
        if doc is None:
            raise ResourceNotFoundException(f"Schedule {name} does not exist.")
        return dict(doc)

    def _checked(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """The schedule a Create/Update request describes, validated as AWS validates it."""
        group = params.get("GroupName", DEFAULT_GROUP)
        self._check_group(group)
        window = params.get("FlexibleTimeWindow")
        if not isinstance(window, dict) or window.get("Mode") not in ("OFF", "FLEXIBLE"):
            raise ValidationException("FlexibleTimeWindow with Mode OFF or FLEXIBLE is required")
        target = params.get("Target")
        if not isinstance(target, dict) or "Arn" not in target or "RoleArn" not in target:
            raise ValidationException("Target with Arn and RoleArn is required")
        if not LAMBDA_TARGET.fullmatch(str(target["Arn"])):
            raise ValidationException(
                f"Target {target['Arn']} cannot be invoked here: the lambdashift emulator's "
                "scheduler invokes Lambda function ARNs only")
        if not re.fullmatch(ROLE_PATTERN, str(target["RoleArn"])):
            raise ValidationException(f"Invalid RoleArn {target['RoleArn']}.")
        if "Input" in target:
            try:
                json.loads(target["Input"])
            except (TypeError, ValueError):
                raise ValidationException("Target.Input must be well-formed JSON for a Lambda "
                                          "target") from None
        state = params.get("State", "ENABLED")
        if state not in ("ENABLED", "DISABLED"):
            raise ValidationException(f"Invalid State {state}: ENABLED or DISABLED")
        after = params.get("ActionAfterCompletion", "NONE")
        if after not in ("NONE", "DELETE"):
            raise ValidationException(f"Invalid ActionAfterCompletion {after}: NONE or DELETE")
        tz = params.get("ScheduleExpressionTimezone")
        parse_expression(params.get("ScheduleExpression"), tz, self.min_rate)
        doc: dict[str, Any] = {
            "Name": name, "GroupName": DEFAULT_GROUP, "ScheduleExpression": params["ScheduleExpression"],
            "State": state, "Target": dict(target), "FlexibleTimeWindow": dict(window),
            "ActionAfterCompletion": after, "Description": params.get("Description", ""),
        }
        for key in ("StartDate", "EndDate"):
            stamp = _timestamp(params.get(key), key)
            if stamp is not None:
                doc[key] = stamp
        if tz:
            doc["ScheduleExpressionTimezone"] = tz
        return doc

    def _timing(self, doc: dict[str, Any]) -> Timing:
        return parse_expression(doc["ScheduleExpression"], doc.get("ScheduleExpressionTimezone"),
                                self.min_rate)

    def _first_due(self, doc: dict[str, Any], now: float) -> float | None:
        if doc["State"] != "ENABLED":
            return None
        timing = self._timing(doc)
        if timing.at is not None:
            return timing.at if timing.at >= doc["LastModificationDate"] - 1 else None
        assert timing.period is not None
        start = doc.get("StartDate") or doc["LastModificationDate"]
        first = start + timing.period
        if first < now:  # after a restart: the next period from now, missed ones are not made up
            first += timing.period * (int((now - first) // timing.period) + 1)
        end = doc.get("EndDate")
        return first if end is None or first <= end else None

    def _put(self, name: str, doc: dict[str, Any], now: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO schedules (name, doc) VALUES (?, ?)",
                         (name, json.dumps(doc, sort_keys=True)))
        self._schedules[name] = doc
        self._due[name] = self._first_due(doc, now)

    def _remove(self, name: str) -> None:
        self._db.execute("DELETE FROM schedules WHERE name = ?", (name,))
        self._schedules.pop(name, None)
        self._due.pop(name, None)


async def run_schedules(rules: ScheduleRules, deliver: Callable[[str, bytes], None],
                        *, sleep: Callable[[float], Any], clock: Callable[[], float] = time.time,
                        tick: float = 0.25) -> None:
    """Fire due schedules until cancelled: ``deliver(target_arn, event)`` for each."""
    while True:
        for _, target, event in rules.due(clock()):
            try:
                deliver(target, event)
                rules.delivered += 1
            except Exception:  # a target that is gone or throttled: AWS counts a failed delivery
                rules.failed += 1
        await sleep(tick)
