"""``webhooks:`` of lambdashift.yaml: a list of URLs (the short form) or a mapping (urls,
events, timeout, attempts). Sending is ``rollout.webhooks``'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdashift.core.validators import did_you_mean, parse_duration, unknown_key_error
from lambdashift.errors import ConfigError

__all__ = ["DEFAULT_EVENTS", "KNOWN_EVENTS", "WebhookSettings", "parse_webhook_settings",
           "parse_webhooks"]

DEFAULT_EVENTS = ("started", "traffic", "verdict", "promote_requested", "succeeded",
                  "rolling_back", "rolled_back", "failed", "drift", "paused", "interrupted")
KNOWN_EVENTS = (*DEFAULT_EVENTS, "write_failed")
_KEYS = ("urls", "events", "timeout", "attempts")


@dataclass(frozen=True)
class WebhookSettings:
    """The validated ``webhooks:`` section; false when the file has none."""

    urls: tuple[str, ...] = ()
    events: tuple[str, ...] = DEFAULT_EVENTS
    timeout: float = 5.0
    attempts: int = 4
    given: bool = False

    def __bool__(self) -> bool:
        return self.given

    def kwargs(self) -> dict[str, Any]:
        """``WebhookNotifier``'s keyword arguments."""
        return {"urls": list(self.urls), "events": self.events, "timeout": self.timeout,
                "attempts": self.attempts}


def parse_webhook_settings(raw: object, path: str = "webhooks") -> WebhookSettings:
    """The section as a value; ConfigError naming the key."""
    if raw is None:
        return WebhookSettings()
    kwargs = parse_webhooks(raw, path)
    return WebhookSettings(tuple(kwargs["urls"]), tuple(kwargs["events"]), kwargs["timeout"],
                           kwargs["attempts"], given=True)


def parse_webhooks(raw: object, path: str = "webhooks") -> dict[str, Any]:
    """``WebhookNotifier``'s keyword arguments from a list of URLs or a mapping."""
    if raw is None:
        raw = {}
    if isinstance(raw, list):
        raw = {"urls": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a list of URLs or a mapping (urls, events, ...), "
                          f"got {raw!r}")
    for key in raw:
        if key not in _KEYS:
            raise unknown_key_error(path, key, _KEYS)
    urls = raw.get("urls") or []
    if not isinstance(urls, list):
        raise ConfigError(f"{path}.urls: must be a list of URLs, got {urls!r}")
    for i, url in enumerate(urls):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.urls[{i}]: must be an http:// or https:// URL"
                              + (f", got {url!r}" if isinstance(url, str) and len(url) < 12 else ""))
    events = raw.get("events", list(DEFAULT_EVENTS))
    if not isinstance(events, list):
        raise ConfigError(f"{path}.events: must be a list of event names, got {events!r}")
    for i, event in enumerate(events):
        if event not in KNOWN_EVENTS:
            close = did_you_mean(str(event), KNOWN_EVENTS)
            hint = f"; did you mean {close!r}?" if close else f" ({', '.join(KNOWN_EVENTS)})"
            raise ConfigError(f"{path}.events[{i}]: unknown event {event!r}{hint}")
    attempts = raw.get("attempts", 4)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ConfigError(f"{path}.attempts: must be an integer from 1 to 10, got {attempts!r}")
    timeout = parse_duration(raw["timeout"], f"{path}.timeout") if "timeout" in raw else 5.0
    return {"urls": list(urls), "events": tuple(events), "timeout": timeout, "attempts": attempts}
