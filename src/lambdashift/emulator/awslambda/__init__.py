"""AWS Lambda: functions, versions, aliases and their rules (the store), the Lambda REST API
and Invoke (the invoker, its per-invocation records)."""
