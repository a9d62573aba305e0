"""The admission webhook server of a process that serves them (TDS_ROLE all or webhooks)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import kopf

from tds_operator.config import OperatorConfig
from tds_operator.process.certs import serving_certificate


@dataclass(frozen=True)
class LocalWebhookAddress:
    """Where a local run serves its webhooks, and the CA its certificate chains to."""

    base_url: str
    ca_pem: bytes


def webhook_server(config: OperatorConfig) -> tuple[kopf.WebhookServer, LocalWebhookAddress | None]:
    """The admission webhook server: a certificate of our own locally (and where the webhook
    configuration must point to reach it), the chart's in a cluster."""
    if config.webhook_mode == "cluster":
        cert_dir = config.webhook_cert_dir or Path("/etc/tds-operator/webhook")
        server = kopf.WebhookServer(
            addr=config.webhook_address,
            port=config.webhook_port,
            certfile=str(cert_dir / "tls.crt"),
            pkeyfile=str(cert_dir / "tls.key"),
        )
        return server, None
    cert_dir = config.webhook_cert_dir or Path(tempfile.mkdtemp(prefix="tds-webhook-"))
    host = config.webhook_host or config.webhook_address
    certificate = serving_certificate(cert_dir, [host, "localhost"])
    server = kopf.WebhookServer(
        addr=config.webhook_address,
        port=config.webhook_port,
        host=host,
        certfile=str(certificate.certfile),
        pkeyfile=str(certificate.pkeyfile),
        cadata=certificate.ca_pem,
    )
    return server, LocalWebhookAddress(f"https://{host}:{config.webhook_port}", certificate.ca_pem)
