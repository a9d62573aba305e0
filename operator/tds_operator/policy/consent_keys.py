"""Consent signed with a party's own key: which keys a space's owners may register, and whether a
consent's detached signature is that party's over these very terms of this very contract.

Pure: keys, specs and the requester in, decisions out. The signed message is `CONSENT_DOMAIN`
followed by the canonical JSON of {contract, party, specDigest}: the contract's name makes a
signature useless on any other contract, the party on the other side, the digest on other terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubectl_tds.signing import (
    CONSENT_DOMAIN,
    PublicKey,
    consent_message,
    fingerprint,
    load_public_key,
    sign_consent,
    signature_valid,
    verify_recorded_consent,
)
from tds_operator.api.datacontract import DataContractSpec, Party
from tds_operator.api.dataspace import DataSpaceSpec, SigningKey
from tds_operator.policy.contract import PARTIES, spec_digest
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo, speaks_for

# Keys, messages and signatures are the plugin's (kubectl_tds.signing): a party signs and checks
# with the very code the hub admits with.
__all__ = [
    "CONSENT_DOMAIN",
    "PublicKey",
    "admit_consent_signatures",
    "admit_space_keys",
    "consent_message",
    "fingerprint",
    "load_public_key",
    "sign_consent",
    "signature_valid",
    "signed_stamp",
    "verify_recorded_consent",
]


# --- Registering keys on a DataSpace -------------------------------------------------------------


def _by_id(spec: DataSpaceSpec | None) -> dict[str, SigningKey]:
    return {key.id: key for key in (spec.signing_keys if spec else [])}


def _other_than_keys(spec: DataSpaceSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"signing_keys"})


def admit_space_keys(
    old: DataSpaceSpec | None,
    new: DataSpaceSpec,
    requester: UserInfo,
    metadata_changed: bool = False,
) -> Decision:
    """Only an owner of the space adds or removes its signing keys, each new one under their own
    user name; a key never changes under its id; and an owner (who may patch the space for its
    keys) changes nothing else of it."""
    before, after = _by_id(old), _by_id(new)
    owners = old.owners if old is not None else new.owners
    is_owner = speaks_for(owners, requester)
    for id in sorted(before.keys() & after.keys()):
        if before[id] != after[id]:
            return Decision.deny(
                "SigningKeyImmutable",
                f"signing key {id} cannot change: remove it and add a key under a new id",
            )
    added = [after[id] for id in sorted(after.keys() - before.keys())]
    if (added or before.keys() - after.keys()) and not is_owner:
        return Decision.deny(
            "NotSpaceOwner",
            "only an owner of the space may add or remove its signing keys; "
            f"{requester.describe()} is not",
        )
    for key in added:
        if key.added_by != requester.username:
            return Decision.deny(
                "SigningKeyNotYours",
                f"signing key {key.id} says it was added by {key.added_by}, but "
                f"{requester.describe()} adds it: set addedBy to your own user name",
            )
        try:
            load_public_key(key.public_key)
        except ValueError as error:
            return Decision.deny("InvalidSigningKey", f"signing key {key.id}: {error}")
    if (
        old is not None
        and is_owner
        and (metadata_changed or _other_than_keys(old) != _other_than_keys(new))
    ):
        return Decision.deny(
            "OwnersChangeKeysOnly",
            "a space's owners change only its spec.signingKeys; everything else of a DataSpace "
            "is the hub's platform team's",
        )
    return Decision.allow("SigningKeysAllowed", "the change to signing keys is allowed")


# --- Signed consent ------------------------------------------------------------------------------


def _consent(spec: DataContractSpec | None, party: Party) -> Mapping[str, Any] | None:
    if spec is None:
        return None
    consent = spec.consent.provider if party == "provider" else spec.consent.consumer
    return consent.model_dump(mode="json", exclude_none=True)


def admit_consent_signatures(
    contract: str,
    old: DataContractSpec | None,
    new: DataContractSpec,
    spaces: Mapping[str, DataSpaceSpec | None],
    requester: UserInfo,
    required: bool,
) -> Decision:
    """Each consent given or re-signed in this change carries a valid signature by a key of that
    party's space (when `required`, or whenever one is given); only that party's owners sign."""
    digest = spec_digest(new)
    for party in PARTIES:
        now, before = _consent(new, party) or {}, _consent(old, party) or {}
        if not now.get("approved") or now == before:
            continue
        if before.get("approved"):
            return Decision.deny(
                "ConsentAlreadyGiven",
                f"the {party} has consented already: to sign its consent, withdraw it and "
                "consent again with the signature",
            )
        space_name = new.provider.space if party == "provider" else new.consumer.space
        space = spaces.get(party)
        signature = now.get("signature")
        if signature is None:
            if required:
                return Decision.deny(
                    "SignedConsentRequired",
                    f"the hub requires consent signed with the {party}'s own key: sign with "
                    f"kubectl tds consent {contract} --key <private key file>",
                )
            continue
        refusal = _signature_refusal(
            contract, party, signature, space, space_name, requester, digest
        )
        if refusal is not None:
            return refusal
    return Decision.allow("ConsentSignaturesValid", "every signature given is the party's own")


def _signature_refusal(
    contract: str,
    party: str,
    signature: Mapping[str, str],
    space: DataSpaceSpec | None,
    space_name: str,
    requester: UserInfo,
    digest: str,
) -> Decision | None:
    """Why a party's consent signature is refused (not its owner, an unknown key, a signature
    that does not verify over these terms of this contract), or None if it holds."""
    if space is None or not speaks_for(space.owners, requester):
        return Decision.deny(
            f"Not{party.capitalize()}Owner",
            f"only an owner of DataSpace {space_name} may sign the {party}'s consent; "
            f"{requester.describe()} is not",
        )
    key = space.signing_key(signature["keyId"])
    if key is None:
        return Decision.deny(
            "UnknownSigningKey",
            f"key {signature['keyId']} is not registered for the {party} (DataSpace "
            f"{space_name} spec.signingKeys): register it with kubectl tds keys add",
        )
    if not signature_valid(
        key.public_key, consent_message(contract, party, digest), signature["value"]
    ):
        return Decision.deny(
            "BadConsentSignature",
            f"the {party}'s signature does not verify with key {key.id} over these terms "
            f"({digest}) of contract {contract}: sign this contract's current terms",
        )
    return None


def signed_stamp(
    stamp: Mapping[str, Any], new: DataContractSpec, spaces: Mapping[str, DataSpaceSpec | None]
) -> dict[str, Any]:
    """A consent stamp with the signature it was given with (key id, signature and the public
    key itself, so that the ledger alone proves it); other stamps as they are. Call only after
    admit_consent_signatures allowed the change."""
    party = stamp.get("party")
    if stamp.get("action") != "consent" or party not in PARTIES:
        return dict(stamp)
    consent = _consent(new, party) or {}
    signature = consent.get("signature")
    space = spaces.get(str(party))
    key = space.signing_key(signature["keyId"]) if signature and space else None
    if signature is None or key is None:
        return dict(stamp)
    return {
        **stamp,
        "signature": {
            "keyId": key.id,
            "value": signature["value"],
            "publicKey": key.public_key,
        },
    }
