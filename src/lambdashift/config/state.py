"""``state:`` of lambdashift.yaml: where rollouts are kept (the store's settings).

The section's value and parser live beside the store they configure and import nothing of
it; this module is the config package's door to them.
"""

from __future__ import annotations

# At the merge of this round this line becomes `from lambdashift.store.settings import ...`
# (the store's own branch moves the section there): the last import of rollout/ in config/.
from lambdashift.store.settings import StateConfig, parse_state

__all__ = ["StateConfig", "parse_state"]
