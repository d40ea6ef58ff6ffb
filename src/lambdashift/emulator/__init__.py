"""The local Lambda cloud, laid out by service as moto lays out its own.

- ``awslambda/``: Lambda functions, versions, aliases and their AWS rules (``store.py`` and
  the rule objects it owns), the Lambda REST API (``api.py``) and Invoke (``invoker.py``);
- ``logs/``: CloudWatch Logs, the functions' log groups and the Logs API subset;
- ``apigw/``: the HTTP API gateway (payload format 2.0) and its apigatewayv2 description;
- ``scheduler/``: the EventBridge Scheduler subset, mounted on the Lambda API's port;
- ``runtime/``: execution environments pooled per version, the Python worker, the Runtime API;
- here: ``server.py`` (builds the services and serves them), ``errors.py`` (AWS-shaped errors
  every service raises) and ``faults.py`` (fault injection in front of both servers).

The services import one way: ``apigw`` and ``scheduler`` use ``awslambda``, which uses
``logs`` and ``runtime``; ``runtime`` uses none of them.
"""
