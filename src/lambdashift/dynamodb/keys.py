"""Where an item sits in a table's or an index's B-tree: its encoded ``(ph, pk, sk)``.

``pk``/``sk`` are the key attributes encoded so that ``memcmp`` order is DynamoDB's
(``types.encode_key``); ``ph`` is the partition's place in scan order
(``types.scan_hash``). A multi-attribute key joins its attributes' encodings so that the
joined bytes sort as the tuple of attributes does.
"""

from __future__ import annotations

from typing import Any

from lambdashift.dynamodb.schema import KeySpec
from lambdashift.dynamodb.types import encode_key, scan_hash

#: ``(ph, pk, sk)`` of a row: where it sits in a table's or an index's order.
RowKey = tuple[int, bytes, bytes]


def key_of(spec: KeySpec, item: dict[str, Any]) -> RowKey | None:
    """The encoded key of ``item`` under ``spec``; None if the item lacks an attribute.

    An attribute of the wrong type also gives None: for an index that means the item is
    not in it (the caller validates the table's own key before).
    """
    if spec.multi:
        return _multi_key_of(spec, item)
    value = item.get(spec.hash[0])
    if value is None or spec.hash[1] not in value:
        return None
    pk = encode_key(value)
    sk = b""
    if spec.range is not None:
        value = item.get(spec.range[0])
        if value is None or spec.range[1] not in value:
            return None
        sk = encode_key(value)
    return scan_hash(pk, spec.hash[1]), pk, sk


def component(encoded: bytes) -> bytes:
    """One attribute of a multi-attribute key, so that concatenations sort as tuples:
    0x00 escaped as 0x00 0xff, then a 0x00 0x00 terminator (nothing sorts below it)."""
    return encoded.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _multi_key_of(spec: KeySpec, item: dict[str, Any]) -> RowKey | None:
    parts = []
    for name, kind in spec.typed():
        value = item.get(name)
        if value is None or kind not in value:
            return None  # an item lacking any key attribute is not in the index
        parts.append(component(encode_key(value)))
    split = len(spec.hashes())
    pk = b"".join(parts[:split])
    return scan_hash(pk, "B"), pk, b"".join(parts[split:])
