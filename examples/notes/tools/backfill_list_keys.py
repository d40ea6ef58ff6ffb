"""Give notes written without list keys (``kind``, ``sk``) those keys, so GET /notes lists them.

Every release of this service writes the keys, so a table it created never needs this.
It is for a table filled by an earlier version of the service (the article's original
code wrote only id, title and content): such notes are invisible to the ``by-created``
index until they have both attributes.

    TABLE_NAME=notes python examples/notes/tools/backfill_list_keys.py [--dry-run]

A note's ``sk`` is its ``created_at`` when it has one; otherwise the creation time is
unknown, and ``1970-01-01T00:00:00.000000Z`` makes it sort after every dated note
(oldest). The one Scan of the table is acceptable for a one-off migration, never for a
request path. Each write is conditional on ``kind`` still being absent, so running it
twice, or while the service writes, changes nothing that is already right. A note
deleted in the meantime is not recreated (``attribute_exists(id)``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

UNKNOWN_CREATION = "1970-01-01T00:00:00.000000Z"
NOTE_KIND = "note"


def backfill(table: Any, *, dry_run: bool = False) -> int:
    """Add ``kind`` and ``sk`` to every note that lacks them; return how many were fixed."""
    fixed = 0
    scan: dict[str, Any] = {
        "FilterExpression": Attr("kind").not_exists() | Attr("sk").not_exists(),
        "ProjectionExpression": "#id, created_at",
        "ExpressionAttributeNames": {"#id": "id"},
    }
    while True:
        page = table.scan(**scan)
        for item in page["Items"]:
            created = item.get("created_at") or UNKNOWN_CREATION
            if not dry_run and not _set_keys(table, item["id"], f"{created}#{item['id']}"):
                continue
            fixed += 1
        if "LastEvaluatedKey" not in page:
            return fixed
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _set_keys(table: Any, note_id: str, sk: str) -> bool:
    try:
        table.update_item(
            Key={"id": note_id},
            UpdateExpression="SET #kind = :kind, #sk = :sk",
            ConditionExpression="attribute_exists(#id) AND "
            "(attribute_not_exists(#kind) OR attribute_not_exists(#sk))",
            ExpressionAttributeNames={"#id": "id", "#kind": "kind", "#sk": "sk"},
            ExpressionAttributeValues={":kind": NOTE_KIND, ":sk": sk},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False  # deleted, or fixed by someone else, since the scan read it
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--table", default=os.environ.get("TABLE_NAME"), help="default: $TABLE_NAME"
    )
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("give --table or set TABLE_NAME")
    count = backfill(boto3.resource("dynamodb").Table(args.table), dry_run=args.dry_run)
    print(f"{'would fix' if args.dry_run else 'fixed'} {count} note(s) in {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
