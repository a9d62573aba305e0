"""Comparing a desired manifest with a live object decides whether a write is needed."""

from __future__ import annotations

import pytest

from tds_operator.api.compare import is_subset
from tds_operator.api.resources import resource_of

pytestmark = pytest.mark.unit


def test_fields_defaulted_by_the_server_do_not_count_as_drift() -> None:
    desired = {"spec": {"ports": [{"port": 53}]}}
    live = {"spec": {"ports": [{"port": 53, "protocol": "UDP"}]}, "status": {}}
    assert is_subset(desired, live)


def test_a_changed_value_is_drift() -> None:
    assert not is_subset({"spec": {"hard": {"cpu": "8"}}}, {"spec": {"hard": {"cpu": "16"}}})


def test_an_extra_list_element_is_drift() -> None:
    desired = {"subjects": [{"name": "a"}]}
    live = {"subjects": [{"name": "a"}, {"name": "intruder"}]}
    assert not is_subset(desired, live)


def test_a_missing_field_is_drift() -> None:
    assert not is_subset({"metadata": {"labels": {"a": "1"}}}, {"metadata": {}})


def test_unknown_kinds_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="does not handle Widget"):
        resource_of("v1", "Widget")


@pytest.mark.parametrize(
    ("desired", "live"), [("0.5", "500m"), ("1024Mi", "1Gi"), ("1000m", "1"), ("16", "16")]
)
def test_quantities_in_canonical_form_are_the_same(desired: str, live: str) -> None:
    assert is_subset({"hard": {"cpu": desired}}, {"hard": {"cpu": live}})


def test_different_quantities_and_non_quantities_differ() -> None:
    assert not is_subset({"cpu": "0.5"}, {"cpu": "1"})
    assert not is_subset({"name": "abc"}, {"name": "abd"})


def test_an_empty_list_matches_what_the_api_server_stores_for_it() -> None:
    # A ClusterRole with `rules: []` comes back with `rules: null`.
    assert is_subset({"rules": []}, {"rules": None})
    assert is_subset({"rules": []}, {})
    assert not is_subset({"rules": [{"verbs": ["get"]}]}, {"rules": None})
    assert not is_subset({"rules": []}, {"rules": [{"verbs": ["get"]}]})
