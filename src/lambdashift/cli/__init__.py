"""The ``lambdashift`` command line: parse, call, render. Exit codes: 0 done, 1 rolled back or
a check failed, 2 usage or config error, 3 waiting at a manual gate."""
