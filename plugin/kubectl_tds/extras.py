"""The optional parts of the plugin, loaded only by the commands that need them.

`cryptography` (the `signing` extra) checks the operator's signed checkpoints and each party's
consent signatures, and signs a consent with your own key. The commands that need it import
kubectl_tds.signing when they run, after `require_signing`; every other command starts without it.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from kubectl_tds.failures import EXIT_USAGE, Failure

SIGNING_EXTRA: Final = "pip install 'kubectl-tds[signing]'"


def require_signing(command: str) -> None:
    """Failure naming the extra unless `cryptography` is installed."""
    if importlib.util.find_spec("cryptography") is None:
        raise Failure(
            f"kubectl tds {command} needs the signing extra, which is not installed: "
            f"{SIGNING_EXTRA} (with pipx: pipx inject kubectl-tds cryptography)",
            EXIT_USAGE,
        )
