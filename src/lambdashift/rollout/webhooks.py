"""Webhooks: rollout notes POSTed as JSON from background threads, never holding up a rollout.

:class:`WebhookNotifier` is the engine's ``notify(state, note)`` callback (re-exported by
``rollout.hooks``, where the config is described). Each URL has its own thread and bounded
queue: a call only serialises the note and puts it on the queues, so it returns at once
whatever the receivers do, and a dead URL does not hold back a live one. A full queue drops
its oldest note. Attempts are retried with exponential backoff on connection errors,
timeouts, 5xx, 408, 425 and 429; another 4xx is final.

A webhook URL is a credential (Slack's and Teams' carry their token in the path): logs and
errors show only its scheme and host (:func:`shown`), never its path, query or user info.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from lambdashift.config.webhooks import (  # the section is parsed there
    DEFAULT_EVENTS,
    KNOWN_EVENTS,
    WebhookSettings,
    parse_webhooks,
)
from lambdashift.core.machine import Notify, RolloutState

__all__ = ["DEFAULT_EVENTS", "KNOWN_EVENTS", "WebhookNotifier", "parse_webhooks"]

log = logging.getLogger("lambdashift.webhooks")

_RETRYABLE = (408, 425, 429)


def shown(url: str) -> str:
    """``https://hooks.example.com/…``: the URL without what may carry its token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(a webhook URL)"
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{hidden}"

_STOP = object()


class _Channel:
    """One URL: its queue, its thread, its counts."""

    def __init__(self, url: str, owner: WebhookNotifier, queue_size: int) -> None:
        self.url = url
        self.shown = shown(url)
        self.owner = owner
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.abandon = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"webhook {self.shown}", daemon=True)
        self.thread.start()

    def offer(self, body: bytes) -> None:
        """Queue ``body`` without waiting; make room by dropping the oldest note."""
        while True:
            try:
                self.queue.put_nowait(body)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.owner._count("dropped")
                    log.warning("webhook %s: queue full, oldest note dropped", self.shown)
                except queue.Empty:
                    pass

    def _run(self) -> None:
        with httpx.Client(timeout=self.owner.timeout) as client:
            while True:
                body = self.queue.get()
                if body is _STOP:
                    return
                self._deliver(client, body)

    def _deliver(self, client: httpx.Client, body: bytes) -> None:
        owner, error = self.owner, ""
        for attempt in range(1, owner.attempts + 1):
            if self.abandon.is_set():
                break
            try:
                response = client.post(self.url, content=body, headers=owner.headers)
                if response.status_code < 300:
                    owner._count("delivered")
                    return
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in _RETRYABLE:
                    break
            except httpx.HTTPError as exc:
                # httpx's message may quote the URL: the exception's class says enough.
                error = type(exc).__name__
            if attempt < owner.attempts:
                self.abandon.wait(min(owner.backoff * 2 ** (attempt - 1), owner.max_backoff))
        owner._count("failed")
        log.warning("webhook %s: not delivered (%s)", self.shown, error or "abandoned at close")


class WebhookNotifier:
    """POST rollout notes to ``urls``: ``notify(state, note)`` for the events chosen.

    ``timeout`` is per attempt, ``attempts`` the tries per note (retries back off from
    ``backoff`` seconds, doubling, at most ``max_backoff``); ``queue_size`` bounds the notes
    waiting per URL. Counts of ``delivered``, ``failed`` and ``dropped`` notes are kept.
    """

    def __init__(self, urls: Iterable[str], *, events: Iterable[str] = DEFAULT_EVENTS,
                 timeout: float = 5, attempts: int = 4, backoff: float = 0.5,
                 max_backoff: float = 30.0, queue_size: int = 256) -> None:
        if attempts < 1 or queue_size < 1:
            raise ValueError("attempts and queue_size must be at least 1")
        self.events = frozenset(events)
        self.timeout = float(timeout)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"content-type": "application/json", "user-agent": "lambdashift"}
        self.counts = {"delivered": 0, "failed": 0, "dropped": 0}
        self._lock = threading.Lock()
        self._closed = False
        self._channels = [_Channel(url, self, queue_size) for url in dict.fromkeys(urls)]

    @classmethod
    def from_config(cls, raw: object, path: str = "webhooks") -> WebhookNotifier | None:
        """A notifier from the ``webhooks`` section, or None when it names no URL."""
        settings = parse_webhooks(raw, path)
        return cls(**settings) if settings["urls"] else None

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> WebhookNotifier | None:
        """A notifier from the config's parsed ``webhooks:``, or None when it names no URL."""
        return cls(**settings.kwargs()) if settings.urls else None

    def __call__(self, state: RolloutState, note: Notify) -> None:
        """Queue ``note`` for every URL and return at once; never raises."""
        if self._closed or note.event not in self.events:
            return
        try:
            body = json.dumps(payload(state, note), default=str).encode()
            for channel in self._channels:
                channel.offer(body)
        except Exception:  # a notification must never break a rollout
            log.exception("webhook note %s could not be queued", note.event)

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver the queued notes for at most ``timeout`` seconds; True if all went out."""
        self._closed = True
        deadline = time.monotonic() + timeout
        for channel in self._channels:
            try:
                channel.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                pass
        done = True
        for channel in self._channels:
            channel.thread.join(max(0.0, deadline - time.monotonic()))
            if channel.thread.is_alive():
                channel.abandon.set()  # stop retrying; the thread ends after its request
                done = False
        return done

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1


def payload(state: RolloutState, note: Notify) -> dict[str, Any]:
    """The JSON body of one note."""
    traffic = state.traffic.to_dict() if state.traffic is not None else None
    return {"event": note.event, "function": state.function, "rollout_id": state.rollout_id,
            "stable": state.stable, "candidate": state.candidate, "phase": state.phase.value,
            "step": state.step_index, "traffic": traffic, "details": dict(note.details),
            "at": state.updated_at}
