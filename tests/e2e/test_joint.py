"""Three organisations train one model on the installed chart: the joint story of
examples/joint-training/ (docs/guides/joint-training.md), acted through kubectl as the parties."""

from __future__ import annotations

import time

import pytest

from tests.e2e.joint import JointStory
from tests.e2e.release import Release
from tests.e2e.story import FORBIDDEN

pytestmark = pytest.mark.e2e


def test_three_organisations_train_one_model_jointly(release: Release) -> None:
    """Two providers' contracts with one consumer, each allowing joint training: the consumer's
    joint job runs to its end, its model is released as every contract's clause says, and each
    contract shows the job (its GPU-seconds on both, `kubectl tds status` naming it joint)."""
    story = JointStory(suffix="-jt", timeout=90)
    started, logged = time.monotonic(), len(release.operator.log())
    try:
        story.walk_joint()
    finally:
        release.timings["joint"] = time.monotonic() - started
        story.remove_joint()
    print(f"\njoint story: {release.timings['joint']:.1f}s, steps {story.done}")
    log = release.operator.log()[logged:]
    refused = [line for line in log.splitlines() if FORBIDDEN.search(line)]
    assert not refused, "the operator was refused:\n" + "\n".join(refused[:10])
