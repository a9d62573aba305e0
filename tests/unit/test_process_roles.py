"""A process's role (TDS_ROLE): the chart runs the controller and the webhook server as two
processes of each pod, so that the leader's death takes no webhook with it; a local run is both."""

from __future__ import annotations

import pytest

from tds_operator.config import OperatorConfig
from tds_operator.process.main import operator_registry

pytestmark = pytest.mark.unit


def test_a_process_is_both_unless_told_otherwise() -> None:
    assert OperatorConfig.from_environment({}).role == "all"
    assert OperatorConfig.from_environment({"TDS_ROLE": ""}).role == "all"


@pytest.mark.parametrize("role", ["controller", "webhooks", "all"])
def test_each_role_is_read(role: str) -> None:
    assert OperatorConfig.from_environment({"TDS_ROLE": role}).role == role


@pytest.mark.parametrize("value", ["leader", "Webhooks", "both"])
def test_another_role_is_refused_naming_the_choices(value: str) -> None:
    with pytest.raises(ValueError, match="TDS_ROLE must be all, controller or webhooks"):
        OperatorConfig.from_environment({"TDS_ROLE": value})


def handler_ids(role: str) -> tuple[set[str], set[str]]:
    """(the admission handlers, the watch handlers) a process of `role` registers."""
    registry = operator_registry("auto", role)  # type: ignore[arg-type]
    admission = {h.id for h in registry._webhooks.get_all_handlers()}
    watching = {h.id for h in registry._watching.get_all_handlers()}
    return admission, watching


def test_the_controller_serves_no_webhook_and_the_webhook_server_watches_nothing() -> None:
    admission, watching = handler_ids("all")
    assert admission, "positive control: a process of both roles serves webhooks"
    assert watching, "positive control: a process of both roles watches"
    assert handler_ids("controller") == (set(), watching)
    assert handler_ids("webhooks") == (admission, set())


@pytest.mark.parametrize(
    ("role", "reconciles", "serves_webhooks"),
    [("all", True, True), ("controller", True, False), ("webhooks", False, True)],
)
def test_what_each_role_does(role: str, reconciles: bool, serves_webhooks: bool) -> None:
    config = OperatorConfig.from_environment({"TDS_ROLE": role})
    assert (config.reconciles, config.serves_webhooks) == (reconciles, serves_webhooks)
