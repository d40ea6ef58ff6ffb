"""EventBridge Scheduler's routes on the emulator's port, and the loop that fires schedules.

Served beside the Lambda API (``awslambda/api.py`` mounts what :func:`mount` returns): the
paths are Scheduler's own (``/schedules/{Name}``), errors leave as the Lambda API's do. A
due schedule invokes its target asynchronously, as Scheduler's Lambda target does.
"""

from __future__ import annotations

import asyncio
import random
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lambdashift.emulator.awslambda.api import Mounted
from lambdashift.emulator.awslambda.invoker import Invoker
from lambdashift.emulator.awslambda.responses import aws_endpoint, json_response, read_body
from lambdashift.emulator.awslambda.store import LambdaStore
from lambdashift.emulator.scheduler.schedules import ScheduleRules, run_schedules


def mount(rules: ScheduleRules, store: LambdaStore, invoker: Invoker) -> Mounted:
    """The Scheduler subset's routes, its firing loop, and what closes it."""
    rng = random.Random()

    def q(request: Request, key: str) -> str | None:
        return request.query_params.get(key)

    async def create_schedule(r: Request, rid: str) -> Response:
        return json_response(rules.create(r.path_params["Name"], await read_body(r)), 200, rid)

    async def update_schedule(r: Request, rid: str) -> Response:
        return json_response(rules.update(r.path_params["Name"], await read_body(r)), 200, rid)

    async def get_schedule(r: Request, rid: str) -> Response:
        return json_response(rules.get(r.path_params["Name"], q(r, "groupName")), 200, rid)

    async def delete_schedule(r: Request, rid: str) -> Response:
        rules.delete(r.path_params["Name"], q(r, "groupName"))
        return json_response({}, 200, rid)

    async def list_schedules(r: Request, rid: str) -> Response:
        return json_response(rules.list(q(r, "ScheduleGroup"), q(r, "NamePrefix"), q(r, "State"),
                                        q(r, "NextToken"), q(r, "MaxResults")), 200, rid)

    async def scheduler_stats(r: Request, rid: str) -> Response:
        return json_response({"delivered": rules.delivered, "failed": rules.failed,
                              "next_due": rules.next_due()}, 200, rid)

    def deliver(target_arn: str, event: bytes) -> None:
        """A schedule's target, invoked asynchronously as Scheduler's Lambda target does."""
        invoker.invoke_later(store.resolve_invoke(target_arn, None, rng.random()), event,
                             str(uuid.uuid4()), None)

    routes = [
        Route("/schedules", aws_endpoint(list_schedules), methods=["GET"]),
        Route("/schedules/{Name}", aws_endpoint(create_schedule), methods=["POST"]),
        Route("/schedules/{Name}", aws_endpoint(get_schedule), methods=["GET"]),
        Route("/schedules/{Name}", aws_endpoint(update_schedule), methods=["PUT"]),
        Route("/schedules/{Name}", aws_endpoint(delete_schedule), methods=["DELETE"]),
        Route("/_lambdashift/scheduler", aws_endpoint(scheduler_stats), methods=["GET"]),
    ]
    return Mounted(routes, run=lambda: run_schedules(rules, deliver, sleep=asyncio.sleep),
                   close=rules.close)
