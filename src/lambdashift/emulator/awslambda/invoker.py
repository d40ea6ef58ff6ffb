"""Between the API and the runtime: snapshots, throttling, asynchronous invocations, metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lambdashift.emulator.awslambda.invocation_records import InvocationRecord, MetricsRecorder
from lambdashift.emulator.awslambda.models import LATEST
from lambdashift.emulator.awslambda.store import InvokeTarget, LambdaStore
from lambdashift.emulator.errors import InvalidRuntimeException, TooManyRequestsException
from lambdashift.emulator.logs.store import LogStore
from lambdashift.emulator.runtime.catalog import missing
from lambdashift.emulator.runtime.interpreters import interpreter_for
from lambdashift.emulator.runtime.pools import ConcurrencyLimitExceeded, InvocationResult, Runtime
from lambdashift.emulator.runtime.snapshot import FunctionSnapshot

#: The emulated account's concurrency, as GetAccountSettings reports it.
ACCOUNT_CONCURRENCY = 1000


class Invoker:
    """Runs invocations that the store has resolved, and records their metrics."""

    def __init__(self, store: LambdaStore, *, default_concurrency: int = 10,
                 idle_timeout: float = 300.0, base_env: dict[str, str] | None = None) -> None:
        self.store = store
        self.metrics = MetricsRecorder()
        self.logs = LogStore()  # CloudWatch Logs: served by logs/api.py on the same port
        self.default_concurrency = default_concurrency
        self._limits: dict[str, int | None] = {}
        self.runtime = Runtime(concurrency_limit=self._limit, idle_timeout=idle_timeout,
                               base_env=base_env)
        self._background: set[asyncio.Task[None]] = set()

    def _limit(self, function_name: str) -> int:
        reserved = self._limits.get(function_name)
        return self.default_concurrency if reserved is None else reserved

    def snapshot(self, target: InvokeTarget) -> FunctionSnapshot:
        """The runtime's view of the version an invocation runs."""
        config = target.config
        # $LATEST changes in place: its revision tells its workers apart from the old code's.
        key = f"{target.function_name}:{config.version}:{config.code_sha256}"
        if config.version == LATEST:
            key += f":{config.revision_id}"
        return FunctionSnapshot(
            function_name=target.function_name,
            version=config.version,
            code_dir=self.store.code.extracted(config.code_sha256),
            handler=config.handler,
            runtime=config.runtime,
            timeout=float(config.timeout),
            memory_size=config.memory_size,
            environment=config.environment,
            code_sha256=config.code_sha256,
            snapshot_id=key,
            region=self.store.arns.region,
            account_id=self.store.arns.account_id,
            python=interpreter_for(config.runtime),
        )

    async def invoke(self, target: InvokeTarget, payload: bytes, request_id: str,
                     client_context: str | None) -> InvocationResult:
        """Run one invocation now; over the function's concurrency → TooManyRequestsException."""
        self._limits[target.function_name] = target.reserved_concurrency
        qualifier = target.qualifier
        unrunnable = missing(target.config.runtime)
        if unrunnable is not None:
            raise InvalidRuntimeException(f"{target.function_name}: {unrunnable}")
        try:
            result = await self.runtime.invoke(
                self.snapshot(target), payload, invoked_arn=target.invoked_arn,
                request_id=request_id, client_context=client_context,
            )
        except ConcurrencyLimitExceeded:
            self.metrics.record(InvocationRecord(
                time.time(), target.function_name, qualifier, target.executed_version,
                0.0, None, error=False, throttled=True,
            ))
            raise TooManyRequestsException(
                "Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded"
            ) from None
        ended = time.time()
        self.metrics.record(InvocationRecord(
            ended, target.function_name, qualifier, result.executed_version,
            result.duration_ms, result.init_duration_ms,
            error=result.function_error is not None, throttled=False,
        ))
        self.logs.record_invocation(target.function_name, result.log_stream, result.logs,
                                    result.duration_ms, _log_format(target), ended)
        return result

    def invoke_later(self, target: InvokeTarget, payload: bytes, request_id: str,
                     client_context: str | None) -> None:
        """An ``Event`` invocation: queued, run in the background, its result kept in metrics."""
        async def run() -> None:
            try:
                await self.invoke(target, payload, request_id, client_context)
            except TooManyRequestsException:
                pass  # counted as a throttle in the metrics already
            except InvalidRuntimeException:
                pass  # a runtime this machine cannot run: said when the function was created
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def account_settings(self) -> dict[str, Any]:
        """GetAccountSettings: AWS's default quotas and this emulator's usage."""
        functions = [self.store.function(n)[0] for n in self.store.names()]
        reserved = sum(f.reserved_concurrency or 0 for f in functions)
        code_size = sum(f.latest.code_size + sum(c.code_size for c in f.versions.values())
                        for f in functions)
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved,
            },
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(functions)},
        }

    def forget(self, function_name: str, version: str | None) -> None:
        """A function or version was removed: stop its workers (and its metrics if whole)."""
        if version is None:
            self.metrics.forget(function_name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.runtime.drop(function_name, version))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Wait for queued invocations briefly, then stop every worker."""
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.runtime.close()


def _log_format(target: InvokeTarget) -> str:
    """The function's ``LoggingConfig.LogFormat`` (``Text`` unless the store keeps one)."""
    return getattr(target.config, "log_format", None) or "Text"
