"""What ``publish`` can tell of a Python handler from the package alone, before AWS runs it.

A warning, never a refusal: the code may be right on AWS (a layer may provide the module, a
module may build its names at run time). Warned when the handler's module is not in the
package, does not compile (every invocation would fail with ``Runtime.UserCodeSyntaxError``)
or binds no such name at its top level (``Runtime.HandlerNotFound``), e.g. ``orders.mian``.
The candidate gate (``rollout.candidate``) is what stops such a version before traffic.
"""

from __future__ import annotations

import ast
import difflib
import io
import zipfile

__all__ = ["handler_warnings", "top_level_names"]


def handler_warnings(zip_bytes: bytes, handler: str, runtime: str) -> list[str]:
    """Warnings about ``handler`` (``file.function``) in a deployment package; [] when the
    runtime is not Python or nothing is wrong that can be seen."""
    if not runtime.startswith("python"):
        return []
    module, _, function = handler.rpartition(".")
    if not module or not function:
        return [f"handler {handler!r} is not module.function: Lambda answers Runtime.MalformedHandlerName"]
    base = module.replace(".", "/")  # AWS imports "pkg/mod" and "pkg.mod" alike
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as package:
            names = set(package.namelist())
            path = next((p for p in (f"{base}.py", f"{base}/__init__.py") if p in names), None)
            if path is None:
                return [f"handler {handler}: no {base}.py in the package: Lambda would answer "
                        "Runtime.ImportModuleError unless a layer provides the module"]
            source = package.read(path)
    except zipfile.BadZipFile:
        return []
    try:
        tree = ast.parse(source, filename=path)
        compile(tree, path, "exec")
    except (SyntaxError, ValueError) as exc:
        where = f"line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else path
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return [f"handler {handler}: {path} does not compile ({message}, {where}): every "
                "invocation would fail with Runtime.UserCodeSyntaxError"]
    bound = top_level_names(tree)
    if bound is None or function in bound:
        return []
    close = difflib.get_close_matches(function, sorted(bound), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return [f"handler {handler}: {path} defines no {function!r}{hint}: every invocation would "
            "fail with Runtime.HandlerNotFound"]


def top_level_names(tree: ast.Module) -> set[str] | None:
    """The names a module binds at its top level (inside if/try/with/for blocks too); None
    when it cannot be told (``from x import *``, a module ``__getattr__``)."""
    names: set[str] = set()

    def targets(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)

    def visit(body: list[ast.stmt]) -> bool:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if alias.name == "*":
                        return False
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    targets(target)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                targets(stmt.target)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                targets(stmt.target)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for block in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, block, None)
                if isinstance(inner, list) and not isinstance(
                        stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    if not visit(inner):
                        return False
            for handler in getattr(stmt, "handlers", None) or ():
                if handler.name:
                    names.add(handler.name)
                if not visit(handler.body):
                    return False
        return True

    if not visit(tree.body):
        return None
    return None if "__getattr__" in names else names
