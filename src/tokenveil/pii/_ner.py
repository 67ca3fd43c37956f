"""Optional named-entity recognition for person names in free text (spaCy, when installed).

Patterns cannot recognise a bare name; a statistical model sometimes can. spaCy is never a
requirement: it is imported only when ``ner=True`` is asked for, and its absence is reported as a
configuration error rather than an ImportError from deep inside a scan.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from tokenveil.errors import ConfigurationError
from tokenveil.pii._engine import Raw
from tokenveil.pii._finding import Kind

__all__ = ["MODELS", "available", "person_raws"]

#: spaCy pipelines tried in order; the small English one is enough for names.
MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_md", "xx_ent_wiki_sm")


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    try:
        spacy = importlib.import_module("spacy")
    except ImportError:
        return None
    for name in MODELS:
        try:
            return spacy.load(name, disable=["parser", "lemmatizer", "tagger"])
        except OSError:
            continue
    return None


def available() -> bool:
    """True when spaCy and one of :data:`MODELS` can be loaded."""
    return _pipeline() is not None


def person_raws(text: str) -> list[Raw]:
    """PERSON findings from the NER model; raises ConfigurationError when there is none."""
    nlp = _pipeline()
    if nlp is None:
        raise ConfigurationError(
            "ner=True needs spaCy with a model: pip install spacy && "
            "python -m spacy download en_core_web_sm"
        )
    doc = nlp(text)
    return [
        Raw(0, Kind.PERSON, ent.start_char, ent.end_char, 0.7)
        for ent in doc.ents
        if ent.label_ in ("PERSON", "PER")
    ]
