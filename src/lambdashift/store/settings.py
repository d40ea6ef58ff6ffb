"""``state:`` in lambdashift.yaml: which store keeps rollouts, history, signals and locks.

```yaml
state:
  store: dynamodb            # sqlite (default: .lambdashift/state.db beside the config)
  table: lambdashift-state   # the DynamoDB table (examples/notes/infra/state.tf)
  region: eu-west-1          # default: the target's region
  endpoint: http://127.0.0.1:8000   # default: AWS, or the local stack's DynamoDB
  lease: 2m                  # how long a crashed runner's lock outlives it (default 2m)
```

A team shares one table: every CI runner's ``deploy`` takes the function's lock there, so
two runners never roll out one function at once, and ``resume`` on any runner finishes what
a dead one started once its lease has expired.

A plain parse function and its value, importing nothing of the store: the config reads the
section with ``parse_state``; ``factory.open_store`` opens what it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lambdashift.errors import ConfigError

STORES = ("sqlite", "dynamodb")
DEFAULT_TABLE = "lambdashift-state"
DEFAULT_LEASE = 120.0
_KEYS = ("store", "table", "region", "endpoint", "lease")


@dataclass(frozen=True)
class StateConfig:
    """The validated ``state:`` section."""

    store: str = "sqlite"
    table: str = DEFAULT_TABLE
    region: str | None = None
    endpoint: str | None = None
    lease_seconds: float = DEFAULT_LEASE


def parse_state(raw: object, path: str = "state") -> StateConfig:
    """Validate ``state:``; ConfigError naming the key path."""
    from lambdashift.core.strategy import parse_duration, unknown_key_error

    if raw is None:
        return StateConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping (store, table, ...), got {raw!r}")
    for key in raw:
        if key not in _KEYS:
            raise unknown_key_error(path, key, _KEYS)
    store = raw.get("store", "sqlite")
    if store not in STORES:
        raise ConfigError(f"{path}.store: must be sqlite or dynamodb, got {store!r}")
    strings = {}
    for key in ("table", "region", "endpoint"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{path}.{key}: must be a non-empty string, got {value!r}")
        strings[key] = value
    table = strings["table"] or DEFAULT_TABLE
    if not 3 <= len(table) <= 255 or not all(c.isalnum() or c in "_.-" for c in table):
        raise ConfigError(f"{path}.table: must be a DynamoDB table name, got {table!r}")
    lease = DEFAULT_LEASE
    if "lease" in raw:
        lease = parse_duration(raw["lease"], f"{path}.lease")
        if not lease > 0:
            raise ConfigError(f"{path}.lease: must be longer than 0 s, got {raw['lease']!r}")
    return StateConfig(store, table, strings["region"], strings["endpoint"], lease)
