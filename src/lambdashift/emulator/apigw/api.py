"""The local HTTP API described as API Gateway's v2 API does: GetApis, GetRoutes,
GetIntegrations and UpdateIntegration, under ``/_lambdashift/apigatewayv2``.

So that what reads an HTTP API on AWS reads the local one through the same boto3 calls
(``boto3.client("apigatewayv2", endpoint_url=API_URL + "/_lambdashift/apigatewayv2")``),
``lambdashift check`` among them. As the Terraform module builds it, each function has
one AWS_PROXY integration, payload format 2.0, whose URI is the function's alias ARN;
routes target ``integrations/ID``. UpdateIntegration may repoint an integration (to the
unqualified function, say): the gateway then invokes what the URI names, exactly as API
Gateway would. Integrations live in memory: a restart restores the alias URIs.
Wire format: apigatewayv2's REST JSON (lowerCamel members, ``items`` lists).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PREFIX = "/_lambdashift/apigatewayv2"
_FUNCTION_IN_URI = re.compile(r"function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9_$-]+))?(?:/invocations)?$")


def short_id(text: str) -> str:
    """A stable 7-character id, the length API Gateway's ids have."""
    return hashlib.sha1(text.encode()).hexdigest()[:7]


def function_of_uri(uri: str) -> tuple[str, str | None] | None:
    """``...:function:NAME[:QUALIFIER]`` (a Lambda ARN, or an apigateway invoke ARN that
    wraps one) → (NAME, QUALIFIER or None); None for anything else."""
    found = _FUNCTION_IN_URI.search(uri)
    return (found.group(1), found.group(2)) if found else None


@dataclass
class Integration:
    """One AWS_PROXY integration of ``function``: ``uri`` once repointed, else None (the
    function's alias ARN)."""

    integration_id: str
    function: str
    uri: str | None = None

    def to_wire(self, uri: str) -> dict[str, Any]:
        """apigatewayv2's Integration, as sent on the wire."""
        return {"integrationId": self.integration_id, "integrationType": "AWS_PROXY",
                "integrationMethod": "POST", "integrationUri": uri,
                "payloadFormatVersion": "2.0", "timeoutInMillis": 30000,
                "connectionType": "INTERNET"}


class LocalHttpApi:
    """The routes and integrations of the local gateway, in apigatewayv2's terms."""

    def __init__(self, api_id: str, name: str, endpoint: str,
                 routes: dict[str, str], function_arn: Any) -> None:
        """``routes``: route key → function; ``function_arn(name)``: its alias ARN (asked
        when needed, not here)."""
        self.api_id = api_id
        self.name = name
        self.endpoint = endpoint
        self._function_arn = function_arn
        self.integrations: dict[str, Integration] = {}
        self.by_function: dict[str, Integration] = {}
        for function in sorted(set(routes.values())):
            integration = Integration(short_id("integration " + function), function)
            self.integrations[integration.integration_id] = integration
            self.by_function[function] = integration
        self.routes = {key: self.by_function[fn] for key, fn in routes.items()}

    def uri_of(self, integration: Integration) -> str:
        """What the integration invokes, as an ARN."""
        return integration.uri or self._function_arn(integration.function)

    def target_of(self, route_key: str) -> tuple[str, str | None] | None:
        """What the route's integration invokes now: (function, qualifier or None)."""
        return function_of_uri(self.uri_of(self.routes[route_key]))

    def starlette_routes(self) -> list[Route]:
        """The apigatewayv2 subset, to mount before the gateway's catch-all route."""
        return [
            Route(PREFIX + "/v2/apis", self._get_apis, methods=["GET"]),
            Route(PREFIX + "/v2/apis/{apiId}/routes", self._get_routes, methods=["GET"]),
            Route(PREFIX + "/v2/apis/{apiId}/integrations", self._get_integrations, methods=["GET"]),
            Route(PREFIX + "/v2/apis/{apiId}/integrations/{integrationId}",
                  self._update_integration, methods=["PATCH"]),
        ]

    @staticmethod
    def _json(body: Any, status: int = 200, error: str | None = None) -> Response:
        headers = {"x-amzn-ErrorType": error} if error else {}
        return Response(json.dumps(body).encode(), status_code=status,
                        media_type="application/json", headers=headers)

    def _not_found(self, what: str) -> Response:
        return self._json({"message": f"Invalid {what} identifier specified"}, 404,
                          "NotFoundException")

    async def _get_apis(self, request: Request) -> Response:
        return self._json({"items": [{
            "apiId": self.api_id, "name": self.name, "protocolType": "HTTP",
            "apiEndpoint": self.endpoint, "routeSelectionExpression": "${request.method} ${request.path}",
        }]})

    async def _get_routes(self, request: Request) -> Response:
        if request.path_params["apiId"] != self.api_id:
            return self._not_found("API")
        return self._json({"items": [{
            "routeId": short_id("route " + key), "routeKey": key,
            "target": f"integrations/{integration.integration_id}",
            "authorizationType": "NONE", "apiKeyRequired": False,
        } for key, integration in sorted(self.routes.items())]})

    async def _get_integrations(self, request: Request) -> Response:
        if request.path_params["apiId"] != self.api_id:
            return self._not_found("API")
        return self._json({"items": [i.to_wire(self.uri_of(i)) for i in self.integrations.values()]})

    async def _update_integration(self, request: Request) -> Response:
        if request.path_params["apiId"] != self.api_id:
            return self._not_found("API")
        integration = self.integrations.get(request.path_params["integrationId"])
        if integration is None:
            return self._not_found("Integration")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return self._json({"message": "Invalid request body"}, 400, "BadRequestException")
        uri = body.get("integrationUri") if isinstance(body, dict) else None
        if uri is not None:
            if not isinstance(uri, str) or function_of_uri(uri) is None:
                return self._json({"message": f"Invalid integration URI specified: {uri}"}, 400,
                                  "BadRequestException")
            integration.uri = uri
        return self._json(integration.to_wire(self.uri_of(integration)))
