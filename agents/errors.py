"""Exceptions raised by ``agents`` on bad user input or bad files.

Every error is a :class:`core.errors.VeccError` (a ``ValueError``) so callers that validate
configs can catch one type; messages name the field, the bad value and the allowed values
(formatted by :func:`core.errors.not_allowed`).
"""

from __future__ import annotations

from core.errors import VeccError


class AgentsError(VeccError):
    """Base class of every error raised by the ``agents`` package on bad input."""


class UnknownShapeError(AgentsError):
    """A shape name that the zoo does not know."""


class ShapeConfigError(AgentsError):
    """A shape whose fields are inconsistent (e.g. expert depth != LLM depth for pi0)."""


class TokenizerError(AgentsError):
    """Tokenizer misuse: unknown word under the ``error`` OOV policy, vocabulary overflow."""


class OutOfVocabularyError(TokenizerError):
    """A word that is not in the vocabulary while ``oov="error"``."""


class CheckpointError(AgentsError):
    """A checkpoint that is missing, truncated, corrupt, or does not match the request."""


class DatasetError(AgentsError):
    """A demonstration file that lacks the groups/keys the trainer needs."""


class ObservationError(AgentsError):
    """An observation dict missing a key, or with a wrong shape/dtype."""
