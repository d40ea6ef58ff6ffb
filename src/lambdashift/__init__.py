"""lambdashift: zero-downtime AWS Lambda releases through weighted aliases.

The public API is re-exported here; see ``__all__``.
"""

from lambdashift.errors import (
    ConfigError,
    LambdashiftError,
)

__version__ = "0.1.0"

__all__ = sorted(
    [
        "ConfigError",
        "LambdashiftError",
        "__version__",
    ]
)
