"""The HTTP API gateway (payload format 2.0) and its apigatewayv2 description."""
