"""dead_cutoff, the bound forget_workers.lua removes under, agrees with is_live to the millisecond."""

from __future__ import annotations

import pytest

from rqueues.liveness import dead_cutoff, is_live

NOW = 1_700_000_000_000


@pytest.mark.parametrize("dead_after", [2.0, 5.0, 2.5, 3.0005])
def test_a_beat_at_or_before_the_cutoff_is_exactly_one_that_shows_a_dead_worker(dead_after: float) -> None:
    cutoff = dead_cutoff(NOW, dead_after)
    for beat in range(cutoff - 3, cutoff + 4):
        assert (beat <= cutoff) is (not is_live(beat, NOW, dead_after)), beat
