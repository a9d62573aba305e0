"""Process entry point: kopf settings, handler registration, probes and metrics."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import kopf

from tds_operator import FIELD_MANAGER
from tds_operator.config import OperatorConfig


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Kopf settings that every handler relies on."""
    settings.persistence.finalizer = "tds.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="tds.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="tds.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.networking.error_backoffs = [1, 2, 5, 10]
    settings.batching.error_delays = [1, 2, 5, 10, 30]
    settings.execution.max_workers = 20
    settings.watching.server_timeout = 300
    logging.getLogger(__name__).info("operator %s starting", FIELD_MANAGER)


def run(config: OperatorConfig) -> None:
    """Run the operator until interrupted."""
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=True,
            liveness_endpoint=config.liveness_endpoint,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tds_operator", description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run(OperatorConfig.from_environment())
    return 0
