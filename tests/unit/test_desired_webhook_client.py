"""Where a local run's webhook configuration points, and the certificate local replicas share."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tds_operator.desired.webhook_client import addresses, pointed_at
from tds_operator.process.certs import serving_certificate

pytestmark = pytest.mark.unit

WEBHOOKS = [
    {
        "name": "validate-contracts.tds-operator.tds.io",
        "rules": [{"resources": ["datacontracts"]}],
        "clientConfig": {"url": "https://127.0.0.1:40001/validate-contracts", "caBundle": "b2xk"},
    },
    {
        "name": "mutate-jobs.tds-operator.tds.io",
        "clientConfig": {"url": "https://localhost/mutate-jobs?x=1", "caBundle": "b2xk"},
    },
]


def test_the_addresses_webhooks_send_requests_to() -> None:
    assert addresses(WEBHOOKS) == {("127.0.0.1", 40001), ("localhost", 443)}
    assert addresses([{"clientConfig": {"service": {"name": "svc"}}}]) == set()


def test_pointing_webhooks_elsewhere_keeps_their_rules_and_paths() -> None:
    moved = pointed_at(WEBHOOKS, "https://127.0.0.1:40002", b"CA PEM")
    assert [w["clientConfig"]["url"] for w in moved] == [
        "https://127.0.0.1:40002/validate-contracts",
        "https://127.0.0.1:40002/mutate-jobs?x=1",
    ]
    assert {w["clientConfig"]["caBundle"] for w in moved} == {base64.b64encode(b"CA PEM").decode()}
    assert moved[0]["rules"] == WEBHOOKS[0]["rules"]
    assert WEBHOOKS[0]["clientConfig"]["url"].endswith(":40001/validate-contracts")


def test_replicas_sharing_a_directory_serve_one_certificate(tmp_path: Path) -> None:
    first = serving_certificate(tmp_path, ["127.0.0.1", "localhost"])
    second = serving_certificate(tmp_path, ["127.0.0.1", "localhost"])
    assert second.ca_pem == first.ca_pem
    assert second.certfile.read_bytes() == first.certfile.read_bytes()
    # A certificate for another host is not reused.
    other = serving_certificate(tmp_path, ["10.0.0.7"])
    assert other.ca_pem != first.ca_pem
