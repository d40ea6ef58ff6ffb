"""``lambdashift demo`` (what ``make demo`` runs) tells its story and accounts for every request."""

from __future__ import annotations

import re

from tests.e2e.conftest import cli


def test_the_demo_releases_v2_rolls_back_the_bad_release_and_loses_no_request(tmp_path):
    out = cli("demo", "--keep", str(tmp_path / "demo"), timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "demo finished: every step went as described" in text
    sent, answered, lost = map(int, re.search(
        r"requests sent: (\d+); answered: (\d+); lost \(no answer\): (\d+)", text).groups())
    assert sent == answered and lost == 0 and sent > 500
    # Every 5xx came from the bad release of notes-list, never from a healthy version.
    failures = re.findall(r"failed \(5xx\): \d+ on (\S+ \S+), all served by version (\S+)", text)
    assert failures and all(route == "GET /notes" and version == "2" for route, version in failures)
    assert "notes-list           rolled back" in text
    assert not (tmp_path / "demo" / "notes" / ".lambdashift" / "local.json").exists()  # stack down
