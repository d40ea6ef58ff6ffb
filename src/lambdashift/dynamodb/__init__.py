"""lambdashift's own DynamoDB endpoint: the JSON 1.0 API over SQLite, with real indexes.

Layers, outermost first:

* ``server.py`` — the process: binds loopback, runs uvicorn, prints the ready line;
  ``start_process`` runs it as a child (tests, the local stack);
* ``api.py`` — the wire protocol (``X-Amz-Target``, JSON 1.0, AWS-shaped errors);
* ``tables.py``, ``table_updates.py``, ``items.py``, ``reads.py``, ``ttl.py``,
  ``policies.py``, ``partiql.py`` — AWS's rules for each operation (validation,
  conditions, ReturnValues, paging), with ``requests.py`` for what they all read and
  ``key_conditions.py`` for Query's key conditions;
* ``expressions.py``, ``parser.py``, ``evaluate.py`` — DynamoDB's expression language;
  ``partiql_parse.py`` translates PartiQL statements into it;
* ``schema.py``, ``definitions.py`` — table definitions: their description, and
  CreateTable's validation;
* ``store.py``, ``keys.py`` — tables, items and indexes as SQLite tables with B-tree keys;
* ``types.py`` — AttributeValues: validation, order-preserving key encoding, sizes;
* ``errors.py`` — AWS's error types and statuses.
"""
