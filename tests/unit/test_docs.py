"""The docs keep up with the code: commands, flags, config keys, IAM actions, links.

Each check reads the code (the CLI parser, config.py's allowed keys, the AWS client calls)
and the pages under docs/, so a command, flag, key or AWS call added without its docs fails
here. The self-tests at the end feed each checker a deliberately incomplete page, to prove
the checkers can fail.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdashift import config as config_module
from lambdashift.cli.main import build_parser
from lambdashift.core import strategy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "lambdashift"

# --- reading markdown ---------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _lines_outside_fences(text: str) -> Iterator[tuple[int, str, bool]]:
    """(index, line, inside a code fence) for every line."""
    inside = False
    for index, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            inside = not inside
            yield index, line, True
            continue
        yield index, line, inside


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, text without backticks) of every heading outside code fences."""
    found = []
    for index, line, fenced in _lines_outside_fences(text):
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((index, len(match[1]), match[2].replace("`", "").strip()))
    return found


def section(text: str, title: str) -> str | None:
    """The text under the heading ``title`` up to the next heading of its level or higher."""
    lines = text.splitlines()
    marks = headings(text)
    for position, (index, level, name) in enumerate(marks):
        if name == title:
            end = next((i for i, lvl, _ in marks[position + 1:] if lvl <= level), len(lines))
            return "\n".join(lines[index:end])
    return None


def mentions_flag(text: str, flag: str) -> bool:
    """True when ``--flag`` appears as a whole flag (not as the prefix of a longer one)."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


# --- (1) every command and flag in docs/cli.md ---------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"]


def cli_commands() -> dict[str, argparse.ArgumentParser]:
    """Every command as its heading in docs/cli.md names it: ``deploy``, ``local up``, ..."""
    commands: dict[str, argparse.ArgumentParser] = {}
    for name, sub in _subcommands(build_parser()).items():
        commands[name] = sub
        for inner, subsub in _subcommands(sub).items():
            commands[f"{name} {inner}"] = subsub
    return commands


def missing_cli_docs(doc: str, commands: dict[str, argparse.ArgumentParser]) -> list[str]:
    """What the page lacks: a heading per command, each long flag inside its section."""
    problems = []
    for name, parser in commands.items():
        text = section(doc, name)
        if text is None:
            problems.append(f"no heading for `{name}`")
            continue
        problems += [f"`{name}`: {flag} is not in its section"
                     for flag in _long_flags(parser) if not mentions_flag(text, flag)]
    return problems


def test_the_parser_has_the_commands_this_test_expects_to_walk():
    commands = cli_commands()
    assert {"publish", "deploy", "local", "local up", "local down"} <= set(commands)


def test_every_command_and_flag_is_in_cli_md():
    doc = (DOCS / "cli.md").read_text()
    assert missing_cli_docs(doc, cli_commands()) == []


def test_top_level_flags_are_in_cli_md():
    doc = (DOCS / "cli.md").read_text()
    assert [f for f in _long_flags(build_parser()) if not mentions_flag(doc, f)] == []


# --- (2) every config key in docs/config.md ------------------------------------------------


def missing_config_docs(doc: str) -> list[str]:
    """Top-level keys as headings, function keys as headings under `functions`, strategies."""
    problems = []
    titles = {name for _, _, name in headings(doc)}
    problems += [f"no heading for top-level key `{key}`"
                 for key in config_module.TOP_KEYS if key not in titles]
    functions = section(doc, "functions") or ""
    function_titles = {name for _, _, name in headings(functions)}
    problems += [f"no heading for `functions.<name>.{key}`"
                 for key in config_module.FUNCTION_KEYS
                 if key not in function_titles and f"functions.<name>.{key}" not in function_titles]
    rollout = section(doc, "rollout") or ""
    keys = {k for allowed in strategy._KEYS.values() for k in allowed} | set(strategy._STEP_KEYS)
    names = (*strategy.STRATEGIES, *strategy.PRESETS)
    problems += [f"rollout: `{key}` not described" for key in sorted(keys)
                 if f"`{key}" not in rollout]
    problems += [f"rollout: strategy `{name}` not described" for name in names
                 if f"`{name}" not in rollout]
    return problems


def test_every_config_key_and_strategy_is_in_config_md():
    assert missing_config_docs((DOCS / "config.md").read_text()) == []


# --- (3) the IAM policy in docs/aws-setup.md covers every AWS call -------------------------

#: boto3 method names whose IAM action is not the CamelCase of the name.
_ACTION_NAMES = {"invoke": "InvokeFunction"}

#: Lambda client methods of ``LambdaApi`` that lambdashift never calls on AWS, so the policy
#: leaves them out; each with the only place allowed to call it (checked below).
LOCAL_ONLY = {
    "create_function": ["rollout/publish.py"],  # publish(create_missing=target.is_local)
    "create_alias": [],                          # no command calls it
}


def _action(service: str, method: str) -> str:
    camel = _ACTION_NAMES.get(method) or "".join(p.capitalize() for p in method.split("_"))
    return f"{service}:{camel}"


def lambda_client_methods() -> set[str]:
    """Every method of the boto3 Lambda client that ``aws/lambda_api.py`` calls or passes on,
    and those ``aws/inventory.py`` (``lambdashift check``) reads with."""
    source = (SRC / "aws" / "lambda_api.py").read_text()
    inventory = (SRC / "aws" / "inventory.py").read_text()
    return ((set(re.findall(r"self\._client\.(\w+)", source)) - {"meta"})
            | set(re.findall(r"self\._lam\.(\w+)", inventory)))


def cloudwatch_client_methods() -> set[str]:
    """Every CloudWatch client method ``aws/metrics.py`` and ``aws/inventory.py`` call,
    paginated ones included."""
    source = (SRC / "aws" / "metrics.py").read_text()
    called = set(re.findall(r"self\.client\.(\w+)\(", source)) - {"get_paginator"}
    inventory = set(re.findall(r"self\._cloudwatch\.(\w+)", (SRC / "aws" / "inventory.py").read_text()))
    return called | inventory | set(re.findall(r"get_paginator\(\s*[\"'](\w+)[\"']", source))


def apigateway_actions() -> set[str]:
    """The IAM actions of the apigatewayv2 reads of ``aws/inventory.py``: every ``get_*`` is
    ``apigateway:GET`` (API Gateway's IAM actions are HTTP methods)."""
    methods = set(re.findall(r"self\._apigw\.(\w+)", (SRC / "aws" / "inventory.py").read_text()))
    assert all(m.startswith("get_") for m in methods), methods
    return {"apigateway:GET"} if methods else set()


def logs_client_methods() -> set[str]:
    """Every CloudWatch Logs client method ``aws/logs.py`` calls."""
    source = (SRC / "aws" / "logs.py").read_text()
    return set(re.findall(r"self\.client\.(\w+)", source))


def policy_documents(doc: str) -> list[dict]:
    """Every ```json block of the page that is an IAM policy document (has a Statement)."""
    blocks = re.findall(r"```json\n(.*?)```", doc, flags=re.S)
    return [parsed for parsed in map(json.loads, blocks)
            if isinstance(parsed, dict) and "Statement" in parsed]


def policy_actions(policy: dict) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def missing_iam_actions(doc: str, lambda_methods: set[str], cloudwatch_methods: set[str],
                        local_only: dict[str, list[str]],
                        logs_methods: set[str] = frozenset(),
                        other_actions: frozenset[str] = frozenset()) -> list[str]:
    """Calls without an action in the policy, and actions in the policy no call needs."""
    policies = policy_documents(doc)
    if len(policies) != 1:
        return [f"expected one IAM policy JSON block, found {len(policies)}"]
    granted = policy_actions(policies[0])
    needed = {_action("lambda", m) for m in lambda_methods if m not in local_only}
    needed |= {_action("cloudwatch", m) for m in cloudwatch_methods}
    needed |= {_action("logs", m) for m in logs_methods}
    needed |= other_actions
    problems = [f"{a} is called but not in the policy" for a in sorted(needed - granted)]
    problems += [f"{a} is in the policy but nothing calls it" for a in sorted(granted - needed)]
    problems += [f"{_action('lambda', m)} is left out of the policy but not explained"
                 for m in local_only if m in lambda_methods and _action("lambda", m) not in doc]
    return problems


def test_the_policy_is_valid_json_with_the_iam_shape():
    (policy,) = policy_documents((DOCS / "aws-setup.md").read_text())
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str)
                       else statement["Action"]):
            assert re.fullmatch(r"(lambda|cloudwatch|logs):[A-Z][A-Za-z]+|apigateway:GET", action), action


def test_the_client_calls_found_are_plausible():
    assert {"get_alias", "update_alias", "invoke"} <= lambda_client_methods()
    assert {"get_metric_data", "describe_alarms"} <= cloudwatch_client_methods()
    assert {"filter_log_events", "describe_log_streams"} <= logs_client_methods()
    assert {"get_policy", "get_account_settings"} <= lambda_client_methods()
    assert apigateway_actions() == {"apigateway:GET"}


def test_every_aws_call_maps_to_an_action_of_the_policy():
    doc = (DOCS / "aws-setup.md").read_text()
    assert missing_iam_actions(doc, lambda_client_methods(), cloudwatch_client_methods(),
                               LOCAL_ONLY, logs_client_methods(),
                               frozenset(apigateway_actions())) == []


def test_methods_left_out_of_the_policy_are_called_only_where_the_docs_say():
    """A new caller of a local-only method would need the IAM action: this test says so."""
    for method, allowed in LOCAL_ONLY.items():
        callers = sorted(
            str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
            if path.parts[-2] not in ("emulator", "local", "dynamodb")
            and path.name != "lambda_api.py"
            and re.search(rf"\bapi\.{method}\(", path.read_text())
        )
        assert callers == sorted(allowed), f"{method} is called from {callers}"


# --- (4) relative links point at files that exist -----------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def broken_links(page: Path) -> list[str]:
    problems = []
    text = page.read_text()
    prose = "\n".join(line for _, line, fenced in _lines_outside_fences(text) if not fenced)
    for target in _LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            if target.startswith("#") and _slug_set(text) and target[1:] not in _slug_set(text):
                problems.append(f"{page.name}: no heading for anchor {target}")
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        if not resolved.exists():
            problems.append(f"{page.name}: {target} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in _slug_set(resolved.read_text()):
            problems.append(f"{page.name}: {target}: no such heading")
    return problems


def _slug_set(text: str) -> set[str]:
    return {_slug(name) for _, _, name in headings(text)}


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))],
                         ids=lambda p: p.name)
def test_relative_links_point_at_files_that_exist(page):
    assert broken_links(page) == []


def test_the_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    listed = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert {p.name for p in DOCS.glob("*.md")} - {"README.md"} <= listed


# --- (5) tests cited as proof exist ---------------------------------------------------------


def missing_cited_tests(doc: str, tests_dir: Path) -> list[str]:
    """``test_file.py::test_name`` citations whose test is defined in no file of that name
    under ``tests_dir``."""
    problems = []
    for filename, name in sorted(set(re.findall(r"(test_\w+\.py)::(test_\w+)", doc))):
        sources = [path.read_text() for path in tests_dir.rglob(filename)]
        if not any(re.search(rf"def {name}\(", source) for source in sources):
            problems.append(f"{filename}::{name} does not exist")
    return problems


def test_the_pages_cite_tests():
    assert len(re.findall(r"test_\w+\.py::test_\w+", (DOCS / "emulator.md").read_text())) > 30


@pytest.mark.parametrize("page", ["emulator.md", "local-stack.md"])
def test_every_test_cited_as_proof_exists(page):
    assert missing_cited_tests((DOCS / page).read_text(), ROOT / "tests") == []


# --- the checkers can fail ----------------------------------------------------------------


def test_a_command_or_flag_without_docs_is_reported():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    ship = sub.add_parser("ship")
    ship.add_argument("--fast", action="store_true")
    ship.add_argument("--fast-er", action="store_true")
    sub.add_parser("sink")
    doc = "# cli\n\n## ship\n\n`--fast-er`\n\n## other\n\n--fast\n"
    assert missing_cli_docs(doc, {"ship": ship, "sink": sub.choices["sink"]}) == [
        "`ship`: --fast is not in its section", "no heading for `sink`"]


def test_a_config_key_without_docs_is_reported():
    problems = missing_config_docs("# config\n\n## alias\n\n## functions\n\n### source\n")
    assert "no heading for top-level key `target`" in problems
    assert "no heading for `functions.<name>.handler`" in problems
    assert "rollout: strategy `LambdaAllAtOnce` not described" in problems


def test_an_aws_call_missing_from_the_policy_is_reported():
    doc = ('```json\n{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
           '"Action": ["lambda:GetAlias", "lambda:DeleteFunction"], "Resource": "*"}]}\n```\n')
    assert missing_iam_actions(doc, {"get_alias", "update_alias", "create_function"},
                               {"get_metric_data"}, {"create_function": []}) == [
        "cloudwatch:GetMetricData is called but not in the policy",
        "lambda:UpdateAlias is called but not in the policy",
        "lambda:DeleteFunction is in the policy but nothing calls it",
        "lambda:CreateFunction is left out of the policy but not explained",
    ]


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "there.md").write_text("# There\n\n## A part\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](there.md#a-part) [gone](missing.md) [bad](there.md#nope) "
                    "[web](https://example.com) [self](#page) [lost](#nowhere)\n\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert broken_links(page) == ["page.md: missing.md does not exist",
                                  "page.md: there.md#nope: no such heading",
                                  "page.md: no heading for anchor #nowhere"]


def test_a_cited_test_that_does_not_exist_is_reported(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_real():\n    pass\n")
    doc = "`test_x.py::test_real` and `test_x.py::test_gone` and `test_y.py::test_real`"
    assert missing_cited_tests(doc, tmp_path) == ["test_x.py::test_gone does not exist",
                                                  "test_y.py::test_real does not exist"]
