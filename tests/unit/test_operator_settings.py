"""The operator's throughput settings (TDS_SPACE_WORKERS, TDS_API_REQUESTS_IN_FLIGHT)."""

from __future__ import annotations

import pytest

from tds_operator.config import OperatorConfig

pytestmark = pytest.mark.unit


def test_the_defaults_are_four_space_workers_and_sixteen_requests_in_flight() -> None:
    config = OperatorConfig.from_environment({})
    assert (config.space_workers, config.requests_in_flight) == (4, 16)


def test_both_are_read_from_the_environment() -> None:
    config = OperatorConfig.from_environment(
        {"TDS_SPACE_WORKERS": "8", "TDS_API_REQUESTS_IN_FLIGHT": " 32 "}
    )
    assert (config.space_workers, config.requests_in_flight) == (8, 32)


@pytest.mark.parametrize("name", ["TDS_SPACE_WORKERS", "TDS_API_REQUESTS_IN_FLIGHT"])
@pytest.mark.parametrize("value", ["0", "-2", "eight", "1.5"])
def test_anything_but_a_whole_number_of_at_least_one_is_refused_naming_the_variable(
    name: str, value: str
) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a whole number of at least 1"):
        OperatorConfig.from_environment({name: value})
