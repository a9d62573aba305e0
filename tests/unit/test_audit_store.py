"""Ledger pages are named and grouped per contract object, so a reused name starts afresh."""

from __future__ import annotations

import pytest

from tds_operator.audit.chain import ENTRIES_PER_PAGE
from tds_operator.audit.store import ledgers_by_uid, page_name, readable_page_names
from tds_operator.desired.labels import CONTRACT_UID_LABEL

pytestmark = pytest.mark.unit


def test_pages_of_two_objects_with_one_name_never_collide() -> None:
    first = page_name("sgcc-to-cmcc-load", "0a1b2c3d-aaaa", 0)
    second = page_name("sgcc-to-cmcc-load", "9f8e7d6c-bbbb", 0)
    assert first == "tds-audit-sgcc-to-cmcc-load-0a1b2c3d-0"
    assert first != second


def test_a_page_name_stays_a_valid_object_name_for_long_contract_names() -> None:
    name = page_name("c" * 63, "0a1b2c3d-aaaa", 12)
    assert len(name) <= 253
    assert name.endswith("-0a1b2c3d-12")


def test_kept_ledgers_are_grouped_by_the_object_they_belong_to() -> None:
    def page(uid: str, data: dict[str, str]) -> dict[str, object]:
        return {"metadata": {"labels": {CONTRACT_UID_LABEL: uid}}, "data": data}

    ledgers = ledgers_by_uid(
        [page("old", {"00000001": "a"}), page("new", {"00000001": "b"}), page("old", {"2": "c"})]
    )
    assert ledgers == {"old": {"00000001": "a", "2": "c"}, "new": {"00000001": "b"}}


@pytest.mark.parametrize(
    ("entries", "pages"),
    [(None, 2), (0, 2), (1, 2), (ENTRIES_PER_PAGE, 2), (ENTRIES_PER_PAGE + 1, 3)],
)
def test_parties_may_read_every_recorded_page_and_the_next(entries: int | None, pages: int) -> None:
    contract = {
        "metadata": {"name": "c", "uid": "0a1b2c3d-aaaa"},
        "status": {"audit": {"entries": entries}},
    }
    assert readable_page_names(contract) == [
        page_name("c", "0a1b2c3d-aaaa", n) for n in range(pages)
    ]
