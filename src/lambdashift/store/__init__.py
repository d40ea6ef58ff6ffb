"""The state store: where rollouts keep their state, step log, per-function lock and signals.

A rollout survives a crash because the engine saves its *intent* before every alias write
and the *outcome* after it: whichever process resumes it finds the last thing it meant to
do. There is one rollout per function at a time because the engine holds the function's
*lease* while it runs: a lock that lapses unless renewed, so that a crashed process cannot
hold a function forever. Commands run in another terminal (``promote``, ``rollback``,
``approve``) reach the running rollout through *signals* queued in the same store.

Times are seconds since the epoch read from the *store's* clock, never the engine's, so that
leases and signals written by different processes are compared on one clock.

The modules, each imported from where it is defined (nothing is re-exported here):

* ``protocol``: ``StateStore``, the contract every backend honours, and its values
  (``Lease``, ``Event``, ``Signal``);
* ``sqlite``: ``SqliteStateStore``, the default, one file beside lambdashift.yaml;
* ``dynamodb`` (+ ``dynamodb_coordination``): ``DynamoStateStore``, the team store, one
  table every CI runner shares (``state: {store: dynamodb}``), through ``aws.dynamodb_table``;
* ``encoding``: what both backends write the same way (strict JSON, rollout documents);
* ``locks``: who holds a lock (``owner_id``), breaking a dead holder's, and the words a
  user reads about locks (``describe_*``);
* ``ledger``: the rate ledger, one control-plane quota for every process on a store
  (``gcra``, ``LedgerLimiter``);
* ``settings``: the ``state:`` section of lambdashift.yaml, parsed (``parse_state``);
* ``factory``: ``open_store``, the store a ``state:`` section names.
"""
