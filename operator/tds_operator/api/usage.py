"""What a contract's jobs have used, as its status shows it."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, model_validator

from tds_operator.api.common import KubeModel


class ContractUsage(KubeModel):
    """What the contract's jobs have used so far."""

    gpu_hours: float = Field(0.0, ge=0, description="GPU-hours used by all jobs so far.")
    gpu_hours_rounded: float | None = Field(
        None, ge=0, description="gpuHours rounded to 2 decimals (for display)."
    )
    jobs: StrictInt = Field(0, ge=0, description="Training jobs admitted so far.")

    @model_validator(mode="before")
    @classmethod
    def _rounded(cls, data: Any) -> Any:
        """gpuHoursRounded follows gpuHours, unless given."""
        hours = data.get("gpu_hours", data.get("gpuHours")) if isinstance(data, dict) else None
        given = {"gpu_hours_rounded", "gpuHoursRounded"} & set(data or ())
        if given or not isinstance(hours, int | float):
            return data
        return {**data, "gpu_hours_rounded": round(hours, 2)}
