"""Read a /metrics answer into samples that tests can look up by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The one sample of this name whose labels include these; KeyError if none."""
        found = [s.value for s in self.samples if s.name == name and _has(s.labels, labels)]
        if len(found) != 1:
            raise KeyError(f"{name} {labels}: {len(found)} samples")
        return found[0]

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of this name whose labels include these."""
        return sum(s.value for s in self.samples if s.name == name and _has(s.labels, labels))

    def by_labels(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(s.labels.items())): s.value
            for s in self.samples
            if s.name == name and s.value
        }


def _has(have: dict[str, str], want: dict[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())
