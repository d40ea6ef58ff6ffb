"""The curated public API: sorted, every name resolves, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import lambdashift


def test_all_is_sorted_and_every_name_resolves():
    assert lambdashift.__all__ == sorted(lambdashift.__all__)
    for name in lambdashift.__all__:
        assert getattr(lambdashift, name) is not None, name


def test_importing_the_package_loads_neither_yaml_nor_boto3():
    """Worker processes import the package at every cold start."""
    code = "import sys, lambdashift; print(sorted(m for m in ('yaml', 'boto3', 'botocore') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
