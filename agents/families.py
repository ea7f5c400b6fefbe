"""The VLA family registry: per family its model class, its trace builder and its shape facts.

One entry per family (``FAMILIES``), read by everything that used to branch on the family name:
the shapes (``VLAShape.llm_tokens``, ``proprio_in_prefix``, ``noise_input``), the model zoo
(``agents.zoo.build_model``), the policy and calibration inputs (``noise``), and the execution
trace (``ecc.trace`` looks up ``FamilySpec.trace`` in its own builder registry: ecc imports
agents, never the reverse).

A new family registers itself where its model class is defined::

    register_family(FamilySpec("minivla", model=MiniVLAModel, head_kind="ar_tokens"))

The built-in families name their model classes by dotted path (``"agents.models.pi0:Pi0Model"``)
so this module imports no model: the models import the shapes, which read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.registry import Registry, resolve

# The shape functions below take an ``agents.shapes.VLAShape`` (typed ``Any``: shapes reads this
# registry, so importing it here would make the two modules depend on each other).
VLAShape = Any

HEAD_KINDS = ("ar_tokens", "l1_chunk", "flow_expert", "dit")


def no_extra_tokens(shape: VLAShape) -> int:
    """No LLM tokens after the prefix (openvla, pi0)."""
    del shape
    return 0


def action_placeholders(shape: VLAShape) -> int:
    """One placeholder token per action value of the chunk (OFT's parallel decoding)."""
    return shape.head.chunk * shape.head.action_dim


def one_cognition_token(shape: VLAShape) -> int:
    """One learned cognition token (CogACT)."""
    del shape
    return 1


@dataclass(frozen=True)
class FamilySpec:
    """Everything the project knows about one VLA family, in one place.

    name: the ``VLAShape.family`` value.
    model: the ``agents.models.base.StagedVLA`` subclass (or its ``"module:Class"`` path).
    head_kind: the ``ActionHeadShape.kind`` its model implements.
    extra_tokens: LLM tokens after the prefix ``[vision, proprio?, prompt]`` (count).
    proprio_in_prefix: proprio is one prefix token (False: the head reads it, as pi0's expert).
    noise_input: the model starts from noise, model input ``noise`` [B, chunk, action_dim].
    trace: name of the execution-trace builder in ``ecc.trace.TRACE_BUILDERS``.
    """

    name: str
    model: type | str
    head_kind: str
    extra_tokens: Callable[[Any], int] = no_extra_tokens
    proprio_in_prefix: bool = True
    noise_input: bool = False
    trace: str = "analytic"
    summary: str = ""

    @property
    def model_class(self) -> type:
        """The model class (a dotted path is imported on first use)."""
        return resolve(self.model)


FAMILIES: Registry[FamilySpec] = Registry("VLA family", "shape.family")


def register_family(spec: FamilySpec, *, replace: bool = False) -> FamilySpec:
    """Add ``spec`` to the registry (``replace`` to override a family of the same name)."""
    return FAMILIES.add(spec.name, spec, replace=replace)


def family_spec(name: str) -> FamilySpec:
    """The registered family ``name``; an unknown name lists the registered ones."""
    return FAMILIES.get(name)


register_family(FamilySpec(
    "openvla", "agents.models.openvla:OpenVLAModel", "ar_tokens",
    summary="VLM prefix -> autoregressive discrete action tokens",
))  # fmt: skip
register_family(FamilySpec(
    "oft", "agents.models.oft:OFTModel", "l1_chunk", extra_tokens=action_placeholders,
    summary="one parallel LLM pass over action placeholders -> L1 regression head",
))  # fmt: skip
register_family(FamilySpec(
    "pi0", "agents.models.pi0:Pi0Model", "flow_expert", proprio_in_prefix=False,
    noise_input=True, summary="VLM prefix -> flow-matching action expert on the prefix KV",
))  # fmt: skip
register_family(FamilySpec(
    "cogact", "agents.models.cogact:CogACTModel", "dit", extra_tokens=one_cognition_token,
    noise_input=True, summary="VLM cognition feature -> DiT head denoising the chunk (DDIM)",
))  # fmt: skip
