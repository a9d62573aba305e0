"""The signing extra of the light plugin: `cryptography` is loaded only by the commands that check
or make signatures, and one that needs it without it says which extra to install."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from kubectl_tds import cli, extras
from kubectl_tds.failures import EXIT_USAGE, Failure
from kubectl_tds.ledger import sequence_key
from kubectl_tds.verdicts import consent_verdicts
from tds_operator.audit.chain import AuditEvent, extend

pytestmark = pytest.mark.unit

LOADED = "import sys; {}; print('cryptography' in sys.modules)"


def loads_cryptography(statement: str) -> bool:
    """Whether running `statement` in a fresh interpreter loads cryptography."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(statement)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip() == "True"


def test_help_starts_without_cryptography_and_a_signing_module_loads_it() -> None:
    helped = "from kubectl_tds import cli; cli.main(['--help'], open('/dev/null', 'w'))"
    assert not loads_cryptography(
        f"import contextlib\nwith contextlib.suppress(SystemExit): {helped}"
    )
    # The positive control: the same probe sees cryptography once the signing module is loaded.
    assert loads_cryptography("import kubectl_tds.signing")


def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(
        extras.importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "cryptography" else real(name, *rest),
    )


def test_a_command_that_checks_signatures_names_the_extra_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extras.require_signing("audit keys")  # installed here: nothing to say
    without_cryptography(monkeypatch)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["audit", "keys"], out, err) == EXIT_USAGE
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "error: kubectl tds audit keys needs the signing extra, which is not installed: "
        "pip install 'kubectl-tds[signing]' (with pipx: pipx inject kubectl-tds cryptography)\n"
    )


def ledger_data(details: dict[str, object]) -> dict[str, str]:
    event = AuditEvent("e1", "Consent", "c", "u", datetime(2026, 12, 1, tzinfo=UTC), details)
    return {sequence_key(e.sequence): e.encode() for e in extend([], [event])}


def test_a_ledger_without_signed_consents_is_verified_without_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_cryptography(monkeypatch)
    out = io.StringIO()
    assert consent_verdicts("DataContract c", ledger_data({"party": "provider"}), out) == 0
    assert out.getvalue() == ""
    signed = ledger_data({"party": "provider", "signature": {"keyId": "k", "value": "v"}})
    with pytest.raises(Failure) as failure:
        consent_verdicts("DataContract c", signed, out)
    assert failure.value.exit_code == EXIT_USAGE
    assert "kubectl-tds[signing]" in failure.value.message
