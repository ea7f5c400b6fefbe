"""VLAShape <-> plain dict (JSON) for checkpoints."""

from __future__ import annotations

from dataclasses import asdict, fields

from agents.errors import CheckpointError
from agents.shapes import ActionHeadShape, DecoderShape, ProjectorShape, ViTShape, VLAShape


def shape_to_dict(shape: VLAShape) -> dict:
    return asdict(shape)


def _make(cls, d: dict):
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise CheckpointError(
            f"{cls.__name__} fields {sorted(unknown)} are unknown; allowed: {sorted(names)}"
        )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def shape_from_dict(d: dict) -> VLAShape:
    """Inverse of ``shape_to_dict``; raises CheckpointError on unknown or missing fields."""
    try:
        head = dict(d["head"])
        if head.get("expert") is not None:
            head["expert"] = _make(DecoderShape, head["expert"])
        return VLAShape(
            **{
                **{k: v for k, v in d.items() if k not in ("vision", "projector", "llm", "head")},
                "vision": tuple(_make(ViTShape, v) for v in d["vision"]),
                "projector": _make(ProjectorShape, d["projector"]),
                "llm": _make(DecoderShape, d["llm"]),
                "head": _make(ActionHeadShape, head),
            }
        )
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint shape is incomplete or malformed: {e}") from e
