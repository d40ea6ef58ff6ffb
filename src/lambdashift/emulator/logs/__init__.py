"""CloudWatch Logs: the functions' log groups and streams (the store) and the Logs API subset."""
