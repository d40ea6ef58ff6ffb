"""The article's release, for real, on the embedded local stack, under live traffic.

1. ``local up``: the notes service's five functions (release v1), the HTTP API, DynamoDB.
   Concurrent clients create, read, list, update and delete notes; every request is kept.
2. notes-create v2 is published and switched **blue-green**, alone, pre-warmed first.
3. The mixed fleet: notes-get v1 reads a note notes-create v2 wrote (``created_at`` passes).
4. notes-get v2 is **canaried at 10%**: the observed split against its binomial interval;
   then promoted.
5. notes-update v2 (a configuration change) is switched blue-green **without** pre-warm,
   to show the cold starts pre-warming avoids.
6. A broken notes-list (fails 10% of requests) is caught by the judge and rolled back.
7. Reported apart: a naive in-place redeploy of a copy of notes-list (no versions, no
   alias), under the same kind of load.

The demo works in a temporary copy of lambdashift's own pristine notes example (package
data, :mod:`lambdashift.demo.pristine`), never in a file the user edited. Each step's outcome
is checked against what happened (:mod:`lambdashift.demo.checks`: the alias read back from
the Lambda API, the requests the clients saw); the first step that did not happen as
described stops the story, and the demo says which and what happened instead, and exits 1.

Then ``demo-report.json``, ``demo-timeline.png`` and ``demo-timeline.html`` are written to
the working directory and a plain-words summary is printed. The story's pace (``FULL``
for ``make demo``, ``FAST`` for CI) is in :mod:`lambdashift.demo.story`.
"""

from __future__ import annotations

from lambdashift.demo.story import FAST, FULL, Pace, run

__all__ = ["FAST", "FULL", "Pace", "run"]
