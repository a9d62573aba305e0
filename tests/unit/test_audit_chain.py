"""The audit hash chain: appending is idempotent, and any tampering is found by verification."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tds_operator.audit.chain import (
    ENTRIES_PER_PAGE,
    GENESIS,
    MAX_ENTRY_BYTES,
    AuditEntry,
    AuditEvent,
    append,
    decode_entries,
    encode_entries,
    encode_pages,
    entry_hash,
    extend,
    head_of,
    page_of,
    sequence_key,
    trusted_entries,
    verify,
    verify_before_append,
    verify_encoded,
)
from tds_operator.audit.events import consent_entry_id, usage_entry_id

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def event(id: str, kind: str = "UsageMetered", **details: Any) -> AuditEvent:
    return AuditEvent(
        id=id,
        kind=kind,
        contract="sgcc-to-cmcc-load",
        actor="tds-operator",
        at=T0 + timedelta(minutes=len(id)),
        details=details,
    )


def ledger(size: int) -> list[AuditEntry]:
    """A chain of `size` entries: a consent, then usage reports."""
    events = [event(consent_entry_id("provider", DIGEST), "Consent", user="alice")]
    events += [event(usage_entry_id("load-forecast-v1", n), gpuHours=n / 4) for n in range(1, size)]
    return extend([], events[:size])


# --- Appending ---------------------------------------------------------------------------------


def test_the_first_entry_links_to_genesis() -> None:
    entry = append(
        [],
        consent_entry_id("provider", DIGEST),
        at=T0,
        kind="Consent",
        contract="sgcc-to-cmcc-load",
        actor="alice",
        details={"party": "provider"},
    )
    assert entry is not None
    assert (entry.sequence, entry.previous) == (1, GENESIS)
    assert entry.id == f"consent/provider/{DIGEST}"
    assert entry.at == "2026-12-01T00:00:00Z"
    assert entry.hash == entry_hash(entry.body())


def test_the_hash_covers_the_canonical_json_of_every_other_field() -> None:
    # Pinned: changing the hash input would make every stored ledger fail verification.
    body = {
        "sequence": 1,
        "id": "x",
        "at": "2026-12-01T00:00:00Z",
        "kind": "Consent",
        "contract": "c",
        "actor": "alice",
        "details": {"b": 1, "a": "李"},
        "previous": GENESIS,
    }
    canonical = (
        '{"actor":"alice","at":"2026-12-01T00:00:00Z","contract":"c","details":{"a":"李","b":1},'
        f'"id":"x","kind":"Consent","previous":"{GENESIS}","sequence":1}}'
    )
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert entry_hash(body) == expected
    assert entry_hash({**body, "hash": "ignored"}) == expected


def test_each_entry_links_to_the_one_before() -> None:
    chain = ledger(3)
    assert [entry.sequence for entry in chain] == [1, 2, 3]
    assert [entry.previous for entry in chain[1:]] == [entry.hash for entry in chain[:-1]]
    assert head_of(chain) == chain[-1].hash
    assert head_of([]) is None


def test_re_appending_a_recorded_id_adds_nothing() -> None:
    chain = ledger(3)
    again = append(
        chain, chain[1].id, at=T0, kind="UsageMetered", contract="sgcc-to-cmcc-load", actor="x"
    )
    assert again is None
    assert extend(chain, [event(chain[0].id, "Consent"), event(chain[2].id)]) == []


def test_extend_records_each_new_id_once_and_keeps_linking() -> None:
    chain = ledger(2)
    added = extend(chain, [event("a"), event(chain[0].id), event("b"), event("a")])
    assert [entry.id for entry in added] == ["a", "b"]
    assert verify([*chain, *added]).ok


def test_appending_to_the_newest_page_continues_its_numbering() -> None:
    chain = ledger(4)
    entry = append(chain[2:], "next", at=T0, kind="Expired", contract="c", actor="tds-operator")
    assert entry is not None
    assert (entry.sequence, entry.previous) == (5, chain[-1].hash)


def test_times_keep_microseconds_and_are_written_in_utc() -> None:
    east = datetime(2026, 12, 1, 8, 0, 0, 250, tzinfo=UTC) + timedelta(hours=8)
    entry = append([], "x", at=east.astimezone(), kind="Consent", contract="c", actor="a")
    assert entry is not None
    assert entry.at == "2026-12-01T16:00:00.000250Z"


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        append([], "x", at=datetime(2026, 12, 1), kind="Consent", contract="c", actor="a")


def test_details_are_copied_as_json() -> None:
    details: dict[str, Any] = {"workers": (0, 1)}
    entry = append([], "x", at=T0, kind="JobAdmitted", contract="c", actor="a", details=details)
    details["workers"] = "changed"
    assert entry is not None
    assert entry.details == {"workers": [0, 1]}


def test_an_entry_too_large_for_a_page_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 2000"):
        append(
            [], "x", at=T0, kind="JobDenied", contract="c", actor="a", details={"log": "x" * 2000}
        )


def test_a_full_page_fits_in_one_configmap() -> None:
    key_bytes = len(sequence_key(ENTRIES_PER_PAGE))
    assert ENTRIES_PER_PAGE * (MAX_ENTRY_BYTES + key_bytes) < 1024 * 1024 - 16 * 1024


# --- Verification ------------------------------------------------------------------------------


def test_an_intact_chain_verifies_against_its_recorded_head_and_count() -> None:
    chain = ledger(5)
    result = verify(chain, expected_head=chain[-1].hash, expected_count=5)
    assert result.ok
    assert (result.first_bad_sequence, result.reason) == (None, "Verified")
    assert verify([], expected_head=None, expected_count=0).ok


def altered(entry: AuditEntry, **changes: Any) -> AuditEntry:
    return dataclasses.replace(entry, **changes)


def rehashed(entry: AuditEntry, **changes: Any) -> AuditEntry:
    changed = altered(entry, **changes)
    return altered(changed, hash=entry_hash(changed.body()))


def test_an_altered_entry_fails_its_hash() -> None:
    chain = ledger(4)
    chain[1] = altered(chain[1], details={"gpuHours": 0})
    result = verify(chain)
    assert (result.ok, result.first_bad_sequence, result.reason) == (False, 2, "HashMismatch")
    assert "entry 2 was altered" in result.message


def test_an_altered_and_rehashed_entry_breaks_the_next_link() -> None:
    chain = ledger(4)
    chain[1] = rehashed(chain[1], actor="mallory")
    result = verify(chain)
    assert (result.first_bad_sequence, result.reason) == (3, "BrokenLink")


def test_a_deleted_entry_leaves_a_gap() -> None:
    chain = ledger(4)
    del chain[1]
    result = verify(chain)
    assert (result.first_bad_sequence, result.reason) == (2, "SequenceGap")


def test_a_duplicated_entry_is_found() -> None:
    chain = ledger(3)
    result = verify([*chain[:2], chain[1], chain[2]])
    assert (result.first_bad_sequence, result.reason) == (3, "DuplicateSequence")


def test_a_forged_entry_that_repeats_an_id_is_found() -> None:
    chain = ledger(2)
    forged = rehashed(chain[1], sequence=3, previous=chain[1].hash)
    result = verify([*chain, forged])
    assert (result.first_bad_sequence, result.reason) == (3, "DuplicateId")


def test_deleting_the_newest_entries_is_found_against_status() -> None:
    chain = ledger(5)
    head = chain[-1].hash
    assert verify(chain[:3]).ok  # without status the tail cannot be missed
    by_count = verify(chain[:3], expected_count=5)
    assert (by_count.first_bad_sequence, by_count.reason) == (4, "EntriesMissing")
    by_head = verify(chain[:3], expected_head=head)
    assert (by_head.first_bad_sequence, by_head.reason) == (3, "HeadMismatch")
    assert verify([], expected_head=head).reason == "HeadMismatch"


def test_a_rewritten_ledger_does_not_lead_to_the_recorded_head() -> None:
    chain = ledger(3)
    rewritten = extend([], [event("other")])
    result = verify(rewritten, expected_head=chain[-1].hash, expected_count=1)
    assert (result.first_bad_sequence, result.reason) == (1, "HeadMismatch")


def test_entries_after_the_recorded_head_are_reported_as_unrecorded() -> None:
    chain = ledger(5)
    for result in (
        verify(chain, expected_head=chain[2].hash),
        verify(chain, expected_head=chain[2].hash, expected_count=3),
        verify(chain, expected_count=3),
    ):
        assert (result.ok, result.first_bad_sequence, result.reason) == (
            False,
            4,
            "UnrecordedEntries",
        )


# --- Storage -------------------------------------------------------------------------------------


def test_entries_round_trip_through_configmap_data() -> None:
    chain = ledger(3)
    data = encode_entries(chain)
    assert list(data) == ["00000001", "00000002", "00000003"]
    assert json.loads(data["00000002"])["sequence"] == 2
    decoded = decode_entries(data)
    assert decoded.entries == chain
    assert decoded.malformed == []


def test_keys_are_read_in_numeric_order() -> None:
    entries = decode_entries(dict(reversed(encode_entries(ledger(3)).items()))).entries
    assert [entry.sequence for entry in entries] == [1, 2, 3]


@pytest.mark.parametrize(
    ("key", "text", "problem"),
    [
        ("00000001", "{not json", "not JSON"),
        ("00000001", "[]", "not a JSON object"),
        ("00000001", '{"sequence":1}', "fields missing"),
        ("00000009", None, "stored under key 00000009"),
        ("first", None, "stored under key first"),
        ("00000001", "SPACED", "not in canonical form"),
        ("00000001", "BAD_SEQUENCE", "sequence is not a positive integer"),
        ("00000001", "BAD_DETAILS", "details is not a JSON object"),
        ("00000001", "BAD_HASH", "sha256:<64 hex digits>"),
        ("00000001", "BAD_ACTOR", "must be strings"),
    ],
)
def test_malformed_entries_are_reported_not_raised(
    key: str, text: str | None, problem: str
) -> None:
    good = ledger(1)[0].to_dict()
    variants = {
        None: good,
        "SPACED": json.dumps(good, indent=1),
        "BAD_SEQUENCE": {**good, "sequence": True},
        "BAD_DETAILS": {**good, "details": []},
        "BAD_HASH": {**good, "hash": "md5:0"},
        "BAD_ACTOR": {**good, "actor": 7},
    }
    value = variants.get(text, text)
    stored = (
        value
        if isinstance(value, str)
        else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    decoded = decode_entries({key: stored})
    assert decoded.entries == []
    [malformed] = decoded.malformed
    assert malformed.key == key
    assert problem in malformed.problem


def test_verifying_stored_data_fails_on_a_malformed_entry() -> None:
    data = encode_entries(ledger(3))
    data["00000002"] = data["00000002"].replace('"sequence":2', '"sequence": 2')
    result = verify_encoded(data, expected_count=3)
    assert (result.ok, result.first_bad_sequence, result.reason) == (False, 2, "MalformedEntry")
    assert verify_encoded({"x": "y"}).first_bad_sequence is None
    assert verify_encoded(encode_entries(ledger(3)), expected_count=3).ok


KEY = b"k" * 32


def test_appending_adopts_the_operators_own_unrecorded_entries_but_never_follows_tampering() -> (
    None
):
    chain = extend([], [event(f"usage/j/{n}") for n in range(5)], KEY)
    data = encode_entries(chain)
    head = chain[2].hash
    # Sealed entries after the recorded head: the operator's append whose status write has not
    # happened yet.
    assert verify_before_append(data, head, 3, KEY).ok
    assert verify_before_append(data, chain[-1].hash, 5, KEY).ok
    assert verify_before_append(data, None, None, KEY).ok
    assert verify_before_append({}, None, None, KEY).ok
    without_the_last = {key: text for key, text in data.items() if key != "00000005"}
    edited = {**data, "00000002": data["00000002"].replace('"sequence":2', '"sequence": 2')}
    for stored, reason in (
        (without_the_last, "EntriesMissing"),
        ({}, "EntriesMissing"),
        (encode_entries(extend([], [event(f"other-{n}") for n in range(5)], KEY)), "HeadMismatch"),
        (edited, "MalformedEntry"),
        (
            encode_entries([chain[0], altered(chain[1], actor="mallory"), *chain[2:]]),
            "HashMismatch",
        ),
    ):
        result = verify_before_append(stored, chain[-1].hash, 5, KEY)
        assert not result.ok
        assert result.reason == reason


def test_entries_beyond_the_recorded_head_without_the_operators_seal_are_never_adopted() -> None:
    chain = extend([], [event(f"usage/j/{n}") for n in range(3)], KEY)
    # Well-formed, correctly linked entries appended by someone without the key (F11).
    forged = extend(chain, [event("usage/j/999999999"), event("job/x/admitted")])
    assert [entry.mac for entry in forged] == ["", ""]
    stored = encode_entries([*chain, *forged])
    result = verify_before_append(stored, chain[-1].hash, 3, KEY)
    assert (result.ok, result.reason, result.first_bad_sequence) == (False, "UnsealedEntries", 4)
    assert "not written by it (forged)" in result.message
    # Sealed with another key: just as foreign.
    other = extend(chain, [event("usage/j/999999999")], b"x" * 32)
    result = verify_before_append(encode_entries([*chain, *other]), chain[-1].hash, 3, KEY)
    assert (result.ok, result.reason) == (False, "SealMismatch")
    # Before status records anything, nothing unsealed is adopted either.
    unsealed = extend([], [event("usage/j/1")])
    result = verify_before_append(encode_entries(unsealed), None, None, KEY)
    assert (result.ok, result.reason) == (False, "UnsealedEntries")
    # Entries written before entries were sealed still verify as far as status records them.
    assert verify_before_append(encode_entries(unsealed), unsealed[0].hash, 1, KEY).ok


def test_a_sealed_entry_survives_encoding_and_its_seal_covers_its_hash() -> None:
    [entry] = extend([], [event("usage/j/1")], KEY)
    [decoded] = decode_entries(encode_entries([entry])).entries
    assert decoded == entry
    assert decoded.sealed_by(KEY)
    assert not decoded.sealed_by(b"x" * 32)
    assert not altered(decoded, mac="hmac-sha256:" + "0" * 64).sealed_by(KEY)


@pytest.mark.parametrize(
    ("sequence", "page"), [(1, 0), (ENTRIES_PER_PAGE, 0), (ENTRIES_PER_PAGE + 1, 1), (1234, 2)]
)
def test_pages_hold_consecutive_runs_of_entries(sequence: int, page: int) -> None:
    assert page_of(sequence) == page


def test_there_is_no_sequence_zero() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        page_of(0)


def test_pages_split_the_encoded_ledger() -> None:
    chain = extend([], [event(f"usage/j/{n}") for n in range(ENTRIES_PER_PAGE + 2)])
    pages = encode_pages(chain)
    assert sorted(pages) == [0, 1]
    assert len(pages[0]) == ENTRIES_PER_PAGE
    assert sorted(pages[1]) == ["00000501", "00000502"]
    merged = {key: text for page in pages.values() for key, text in page.items()}
    assert verify_encoded(merged, expected_head=chain[-1].hash, expected_count=len(chain)).ok


# --- Properties ----------------------------------------------------------------------------------

# No surrogates, and no U+FFFD, which is what a corrupted byte decodes to.
plain_text = st.characters(exclude_categories=["Cs"], exclude_characters="\ufffd")
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(plain_text, max_size=12),
)
details_strategy = st.dictionaries(
    st.text(plain_text, min_size=1, max_size=8),
    st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    max_size=4,
)
events_strategy = st.lists(
    st.builds(
        AuditEvent,
        id=st.text(plain_text, min_size=1, max_size=12),
        kind=st.sampled_from(["Consent", "Activated", "JobAdmitted", "UsageMetered", "Expired"]),
        contract=st.just("sgcc-to-cmcc-load"),
        actor=st.sampled_from(["alice", "bob", "tds-operator"]),
        at=st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ),
        details=details_strategy,
    ),
    min_size=1,
    max_size=8,
)
chains = events_strategy.map(lambda events: extend([], events))


def verify_against_status(entries: list[AuditEntry], original: list[AuditEntry]) -> bool:
    return verify(entries, expected_head=original[-1].hash, expected_count=len(original)).ok


@given(chains)
def test_an_untampered_chain_always_verifies(chain: list[AuditEntry]) -> None:
    assert verify_against_status(chain, chain)
    assert verify_encoded(encode_entries(chain), chain[-1].hash, len(chain)).ok


@given(chains, st.data())
def test_re_appending_any_recorded_id_never_grows_the_chain(
    chain: list[AuditEntry], data: st.DataObject
) -> None:
    entry = data.draw(st.sampled_from(chain))
    again = append(chain, entry.id, at=T0, kind="X", contract="c", actor="a", details={"n": 1})
    assert again is None


@given(
    chains,
    st.data(),
    # The seal is checked with the operator's key (verify_before_append), not by the chain.
    st.sampled_from(
        [field.name for field in dataclasses.fields(AuditEntry) if field.name != "mac"]
    ),
)
def test_changing_any_field_of_any_entry_is_found(
    chain: list[AuditEntry], data: st.DataObject, field: str
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    original = getattr(chain[index], field)
    if isinstance(original, int):
        value: Any = data.draw(st.integers(min_value=-5, max_value=20))
    elif isinstance(original, dict):
        value = data.draw(details_strategy)
    else:
        value = data.draw(st.text(max_size=70))
    assume(value != original)
    tampered = [*chain]
    tampered[index] = altered(chain[index], **{field: value})
    assert not verify(tampered).ok


@given(chains, st.data())
def test_changing_any_byte_of_the_stored_ledger_is_found(
    chain: list[AuditEntry], data: st.DataObject
) -> None:
    stored = encode_entries(chain)
    key = data.draw(st.sampled_from(sorted(stored)))
    raw = bytearray(stored[key].encode("utf-8"))
    position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    assume(byte != raw[position])
    raw[position] = byte
    stored[key] = raw.decode("utf-8", errors="replace")
    assert not verify_encoded(stored, chain[-1].hash, len(chain)).ok


@given(chains, st.data())
def test_deleting_any_entry_is_found(chain: list[AuditEntry], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    assert not verify_against_status(chain[:index] + chain[index + 1 :], chain)


@given(chains.filter(lambda chain: len(chain) >= 2), st.data())
def test_swapping_any_two_entries_is_found(chain: list[AuditEntry], data: st.DataObject) -> None:
    first, second = data.draw(
        st.lists(
            st.integers(min_value=0, max_value=len(chain) - 1), min_size=2, max_size=2, unique=True
        )
    )
    swapped = [*chain]
    swapped[first], swapped[second] = swapped[second], swapped[first]
    assert not verify(swapped).ok


def test_decisions_rest_on_recorded_and_sealed_entries_only() -> None:
    chain = extend([], [event(f"usage/j/{n}") for n in range(3)], KEY)
    forged = extend(chain, [event("usage/j/999999999")])
    sealed_after = extend([*chain, *forged], [event("usage/j/4")], KEY)
    stored = [*chain, *forged, *sealed_after]
    assert trusted_entries(stored, 3, KEY) == chain
    assert trusted_entries(stored, 4, KEY) == [*chain, *forged, *sealed_after]
    assert trusted_entries(chain, 1, KEY) == chain
    assert trusted_entries(forged, 0, KEY) == []
