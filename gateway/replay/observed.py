"""The latency each deployment showed over the period, looked up by time. Pure.

A replayed request sent where the recorded one was not takes that deployment's latency from
its recorded request nearest in time (a slow-down at 14:00 stays at 14:00), else from the
`typical_ttft_ms` providers.yaml declares, else it is unknown.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from gateway.config.runtime import Deployment
from gateway.core.estimators import TYPICAL_TPOT_MS
from gateway.replay.recorded import Recorded, Sample, resized, sample_of


class Observed:
    def __init__(self, rows: Iterable[Recorded]) -> None:
        times: dict[str, list[float]] = {}
        samples: dict[str, list[Sample]] = {}
        for row in sorted(rows, key=lambda r: r.at):
            times.setdefault(row.deployment, []).append(row.at)
            samples.setdefault(row.deployment, []).append(sample_of(row))
        self._times = times
        self._samples = samples

    def deployments(self) -> frozenset[str]:
        return frozenset(self._times)

    def near(self, deployment_id: str, at: float) -> Sample | None:
        """The deployment's recorded sample nearest in time to `at` (None: it served nothing)."""
        times = self._times.get(deployment_id)
        if not times:
            return None
        i = bisect.bisect_left(times, at)
        if i == len(times) or (i > 0 and at - times[i - 1] <= times[i] - at):
            i -= 1
        return self._samples[deployment_id][i]

    def sample_for(self, dep: Deployment, row: Recorded) -> Sample | None:
        """What `row`'s request would have taken on `dep`, as its client would have seen it."""
        tokens = row.usage.completion_tokens
        if dep.id == row.deployment:
            return sample_of(row)
        sample = self.near(dep.id, row.at)
        if sample is None and dep.typical_ttft_ms is not None:
            sample = Sample(dep.typical_ttft_ms, dep.typical_ttft_ms, TYPICAL_TPOT_MS)
        if sample is None:
            return None
        sample = resized(sample, tokens)
        if not row.stream:  # a whole reply: no first token of its own
            return Sample(sample.latency_ms, None, None)
        return sample
