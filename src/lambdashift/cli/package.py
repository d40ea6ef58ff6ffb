"""``lambdashift package [FN...]``: deterministic zips, the ones Terraform and publish use."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdashift.cli.common import add_config_argument, add_json_argument, config_from, print_json


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``package`` command."""
    p = subparsers.add_parser(
        "package", help="build each function's deterministic deployment zip",
        description="Build .lambdashift/packages/FUNCTION.zip beside the config (or in --out): "
                    "the same sources give the same CodeSha256 on any machine.")
    add_config_argument(p)
    add_json_argument(p)
    p.add_argument("functions", nargs="*", metavar="FN", help="functions to package (default: all)")
    p.add_argument("--out", type=Path, default=None, help="directory for the zips")
    p.set_defaults(func=run_package)


def run_package(args: argparse.Namespace) -> int:
    """Package the functions and print name, CodeSha256, size and path."""
    from lambdashift.aws.packaging import build_zip

    config = config_from(args)
    names = args.functions or list(config.functions)
    out_dir = args.out or config.root / ".lambdashift" / "packages"
    rows = []
    for name in names:
        fn = config.function(name)
        package = build_zip(fn.source, fn.include)
        path = package.write(out_dir / f"{name}.zip")
        rows.append({"function": name, "code_sha256": package.code_sha256, "size": package.size,
                     "path": str(path)})
    if args.json:
        print_json(rows)
    else:
        width = max(len(r["function"]) for r in rows)
        for r in rows:
            print(f"{r['function']:{width}}  {r['code_sha256']}  {r['size']:>7} B  {r['path']}")
    return 0
