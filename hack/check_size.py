"""Fail when an operator module or function outgrows the house rules.

A module may hold at most MAX_MODULE_LINES lines and a function (or method) at most
MAX_FUNCTION_LINES, counted from its `def` line to its last line. Run by `make lint`:

    python hack/check_size.py operator/tds_operator
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50

# Modules allowed past MAX_MODULE_LINES, each for a reason; paths relative to the checked root.
MODULE_EXCEPTIONS = {
    # One transform from the pydantic models to the CRDs' structural schemas: splitting it would
    # scatter a single walk over several files.
    "api/crdgen.py": "the CRD generator is one cohesive transform",
    # The ledger's hash chain: entries, hashing, sealing and verification read as one unit, and
    # its correctness is easier to audit in one file.
    "audit/chain.py": "the audit chain is audited as one unit",
}

# Breaches known when the rule came in and not yet split, as "module" or "module:function":
# none are left. The list may only shrink: an entry that no longer breaches fails the check.
PENDING: frozenset[str] = frozenset()


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def breaches(root: Path) -> dict[str, str]:
    """Every breach of the size rules under root: its key ("module" or "module:function") and a
    readable line."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES and relative not in MODULE_EXCEPTIONS:
            found[relative] = f"{path}: module has {lines} lines (limit {MAX_MODULE_LINES})"
        for function in _functions(ast.parse(source, filename=str(path))):
            length = (function.end_lineno or function.lineno) - function.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found[f"{relative}:{function.name}"] = (
                    f"{path}:{function.lineno}: function {function.name} has {length} lines "
                    f"(limit {MAX_FUNCTION_LINES})"
                )
    return found


def violations(root: Path, pending: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The breaches not pending, and the pending entries that no longer breach."""
    found = breaches(root)
    new = [line for key, line in found.items() if key not in pending]
    stale = [
        f"{key}: listed as pending in check_size.py but within the limits: remove it"
        for key in sorted(pending - found.keys())
    ]
    return new + stale


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_size.py <package directory>", file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"check_size.py: {root} is not a directory", file=sys.stderr)
        return 2
    found = violations(root, PENDING)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
