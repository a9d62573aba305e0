"""A TrainingJob's output: the volume it asks for and what became of it (status.output)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StrictStr

from tds_operator.api.common import KubeModel, Timestamp
from tds_operator.api.validation import BYTE_QUANTITY

OutputState = Literal[
    "Writable", "Inventorying", "Quarantined", "Released", "Rejected", "Discarded"
]
"""Where a job's output is: in the clean room (Pending, Writable, Quarantined) or gone from it."""
OUTPUT_MOUNT: Final = "/output"
"""Where every worker finds its job's output volume, read-write (the root is read-only)."""


class OutputRequest(KubeModel):
    """The output volume the job writes its model to."""

    size: Annotated[StrictStr, Field(max_length=64, pattern=BYTE_QUANTITY)] = Field(
        description="Size of the output volume, such as 10Gi; at most the hub's maximum "
        "(hub rule outputMaxSize). Mounted read-write at /output in every worker.",
    )


class OutputStatus(KubeModel):
    """Where the job's output volume is and what became of it."""

    state: OutputState = Field(
        description="Writable (the job runs), Inventorying (the job ended; the operator's own "
        "image lists the output into its manifest), Quarantined (it waits for a "
        "release), Released (moved to the consumer), Rejected (deleted after the provider's "
        "review) or Discarded (deleted: its job was deleted or its retention passed)."
    )
    claim: StrictStr | None = Field(
        None, description="The output's PersistentVolumeClaim in the clean room."
    )
    size: StrictStr | None = Field(None, description="The size the job asked for.")
    release: StrictStr | None = Field(None, description="The ModelRelease that decided it.")
    quarantined_until: Timestamp | None = Field(
        None,
        description="When a Quarantined output is discarded unless released (hub rule "
        "outputRetention).",
    )
    manifest_digest: StrictStr | None = Field(
        None,
        description="sha256 digest of the output's manifest (every file's path, size and "
        "sha256), made in the clean room by the operator's own image before the output could "
        "be released; a provider's approval binds to it (ModelRelease "
        "spec.review.manifestDigest).",
    )
    manifest_files: int | None = Field(
        None,
        description="How many entries the manifest lists (files, directories, links, the root).",
    )
    manifest_bytes: int | None = Field(None, description="How many bytes those files hold.")
    manifest_message: StrictStr | None = Field(
        None,
        description="Why the output has no manifest, if it has none (it can then only be "
        "rejected, or released where the contract's outputs.modelExport is allowed).",
    )
