"""Durability: state persists across restarts; a kill -9 mid-write never tears it."""

from __future__ import annotations

import threading

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.emulator.server import start_process
from tests.conftest import NO_STATE_DELAY, lambda_client, make_zip, publish_release
from tests.reliability_log import record


def test_restart_keeps_functions_versions_aliases_and_code(data_dir):
    first = start_process(data_dir, extra_args=NO_STATE_DELAY)
    try:
        client = lambda_client(first.endpoint)
        client.create_function(FunctionName="keeper", Runtime="python3.12",
                               Role="arn:aws:iam::000000000000:role/r", Handler="index.handler",
                               Code={"ZipFile": make_zip(
                                   {"index.py": "def handler(e, c):\n    return c.function_version\n"})},
                               Publish=True)
        publish_release(client, "keeper", "v2")
        client.delete_function(FunctionName="keeper", Qualifier="1")
        alias = client.create_alias(FunctionName="keeper", Name="live", FunctionVersion="2")
    finally:
        first.stop()
    second = start_process(data_dir, extra_args=NO_STATE_DELAY)
    try:
        client = lambda_client(second.endpoint)
        versions = [v["Version"] for v in client.list_versions_by_function(FunctionName="keeper")["Versions"]]
        assert versions == ["$LATEST", "2"]
        assert client.get_alias(FunctionName="keeper", Name="live")["RevisionId"] == alias["RevisionId"]
        assert publish_release(client, "keeper", "v3") == "3"
        resp = client.invoke(FunctionName="keeper", Qualifier="live", Payload=b"{}")
        assert resp["Payload"].read() == b'"2"'
    finally:
        second.stop()


def test_kill_9_during_writes_leaves_a_consistent_state(data_dir):
    """Hammer alias updates and publishes, SIGKILL the server, restart: every record loads,
    every alias points at versions that exist, and numbering carries on without reuse."""
    first = start_process(data_dir, extra_args=NO_STATE_DELAY)
    client = lambda_client(first.endpoint)
    client.create_function(FunctionName="crashy", Runtime="python3.12",
                           Role="arn:aws:iam::000000000000:role/r", Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": "def handler(e, c):\n    return 1\n"})},
                           Publish=True)
    client.create_alias(FunctionName="crashy", Name="live", FunctionVersion="1")
    published: list[str] = ["1"]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                published.append(publish_release(client, "crashy", f"r{i}"))
                client.update_alias(FunctionName="crashy", Name="live", FunctionVersion=published[-2],
                                    RoutingConfig={"AdditionalVersionWeights": {published[-1]: 0.1}})
            except (ClientError, BotoCoreError):
                return

    thread = threading.Thread(target=writer)
    thread.start()
    while len(published) < 15:
        threading.Event().wait(0.02)
    first.kill()
    stop.set()
    thread.join()
    second = start_process(data_dir, extra_args=NO_STATE_DELAY)
    try:
        client = lambda_client(second.endpoint)
        versions = [v["Version"] for v in client.list_versions_by_function(FunctionName="crashy")["Versions"]]
        numbers = [int(v) for v in versions[1:]]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 14
        alias = client.get_alias(FunctionName="crashy", Name="live")
        targets = [alias["FunctionVersion"], *alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})]
        assert all(t in versions for t in targets)
        assert int(publish_release(client, "crashy", "after")) == numbers[-1] + 1
        record("kill -9", "SIGKILL of the emulator mid PublishVersion + UpdateAlias, then restart",
               len(published), f"{len(numbers)} versions numbered 1..{numbers[-1]} without a gap; "
               "the alias points at versions that exist; numbering carries on", 0)
    finally:
        second.stop()
