"""What went wrong, said to the person who asked, and the exit status it ends with.

The operator's own command line (`python -m tds_operator audit verify`) ends with the same
statuses, from this module (docs/reference/plugin.md).
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NO_CLUSTER: Final = 3
EXIT_NOT_FOUND: Final = 4

EXIT_CODES_HELP: Final = """exit status:
  0  done (check: the hub's webhooks answer; audit verify: the ledger is intact)
  1  refused by RBAC or the hub's rules, or a check or verification failed
  2  the command line is wrong, or what the command needs is not installed
  3  no cluster: no kubeconfig or context, API server unreachable, credentials not accepted
  4  not found: no such contract, release, job or space"""


class Failure(Exception):
    """One line for the caller, and the exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(Exception):
    """The command line is wrong (argparse would otherwise exit on its own)."""
