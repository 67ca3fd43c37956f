"""Detection quality on the labelled multi-locale corpus (bench/corpus.py), against the targets."""

from __future__ import annotations

import pytest
from bench.corpus import LOCALES, NOISE_CLASSES, Document, Scores, generate, score

from tokenveil import pii

STRICT_KINDS = ("EMAIL", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")


def _detect(doc: Document) -> list[tuple[str, str | None, int, int]]:
    if doc.format == "json":
        return [(f.kind, f.path, f.start, f.end) for f in pii.find_in_json(doc.body)]
    return [(f.kind, None, f.start, f.end) for f in pii.find(doc.body)]


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return generate(350, seed=2026)


@pytest.fixture(scope="module")
def scores(corpus: list[Document]) -> Scores:
    return score(corpus, _detect)


def test_corpus_is_deterministic_for_a_seed() -> None:
    """The same seed yields byte-identical documents and labels, so figures are reproducible."""
    first, second = generate(20, seed=11), generate(20, seed=11)
    assert [(d.body, d.labels, d.noise) for d in first] == [
        (d.body, d.labels, d.noise) for d in second
    ]
    assert [d.body for d in generate(20, seed=12)] != [d.body for d in first]


def test_corpus_covers_every_kind_locale_and_noise_class(corpus: list[Document]) -> None:
    """The evaluation is meaningful: all 15 kinds and all 7 noise classes are planted."""
    kinds = {label.kind for doc in corpus for label in doc.labels}
    noise = {label.kind for doc in corpus for label in doc.noise}
    assert kinds == {k.value for k in pii.Kind}
    assert noise == set(NOISE_CLASSES)
    assert len(LOCALES) == 7
    assert {doc.format for doc in corpus} == {"json", "text"}


def test_overall_precision_and_recall_meet_targets(scores: Scores) -> None:
    """Precision >= 0.97 and recall >= 0.95 over every planted value."""
    assert scores.precision >= 0.97
    assert scores.recall() >= 0.95


@pytest.mark.parametrize("kind", STRICT_KINDS)
def test_checksummed_and_structured_kinds_reach_99_percent_recall(
    scores: Scores, kind: str
) -> None:
    """Emails, cards, IBANs, SSNs and IPs are found at least 99% of the time."""
    assert scores.labelled[kind] > 0
    assert scores.recall(kind) >= 0.99


@pytest.mark.parametrize("noise_class", NOISE_CLASSES)
def test_look_alike_noise_never_fires(scores: Scores, noise_class: str) -> None:
    """UUIDs, digests, timestamps, order numbers, Luhn failures, versions, prices: zero hits."""
    assert scores.noise_hits[noise_class] == 0
