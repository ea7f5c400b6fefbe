"""``check_family``: the contract a registered VLA family keeps across agents and ecc, checked the
way gymnasium's ``env_checker`` checks an environment (each failed check raises naming what broke).

It lives in ecc because it compares the two readers of a shape (ecc may import agents, not the
reverse). For a shape of the family: the registry entry's model class is a ``StagedVLA`` of that
family, implementing the shape's head kind, with the registry's extra LLM tokens; the trace
builder the entry names exists and its block trace lists the model's stages in order with the
same reads and writes (what the planners cut is what the runtimes run); and a seeded model
(tiny shapes; real sizes stay on the meta device) returns ``actions`` [B, chunk, action_dim],
finite, the same when its stages run one by one as in one forward pass.
"""

from __future__ import annotations

import torch

from agents.families import family_spec
from agents.models.base import StagedVLA
from agents.shapes import VLAShape
from agents.staged import run_all_stages
from agents.zoo import build_model, get_shape, random_inputs, random_model
from core.errors import VeccError
from ecc.trace import build_trace, trace_builder

MAX_RUN_PARAMS = 20_000_000  # larger shapes are checked on the meta device only


class FamilyContractError(VeccError, AssertionError):
    """A family entry broke its contract; the message names the family, the shape and the check."""


def check_family(shape: VLAShape | str) -> None:
    """Raise :class:`FamilyContractError` on the first broken check (see the module doc)."""
    shape = get_shape(shape) if isinstance(shape, str) else shape
    spec = family_spec(shape.family)
    where = f"family {spec.name!r} (shape {shape.name!r})"
    cls = spec.model_class
    if not (isinstance(cls, type) and issubclass(cls, StagedVLA)) or cls.family != spec.name:
        raise FamilyContractError(f"{where}: model {cls!r} is not a StagedVLA of this family")
    if shape.head.kind != spec.head_kind:
        raise FamilyContractError(f"{where}: head.kind={shape.head.kind!r} is not allowed; "
                                  f"allowed: {spec.head_kind!r}")  # fmt: skip
    trace_builder(spec.trace)  # an unknown builder name fails here, naming the registered ones
    meta = build_model(shape, "meta")
    if meta.n_extra_tokens() != shape.extra_llm_tokens:
        raise FamilyContractError(f"{where}: model has {meta.n_extra_tokens()} extra LLM tokens, "
                                  f"the registry {shape.extra_llm_tokens}")  # fmt: skip
    specs = meta.stages()
    trace = build_trace(shape, granularity="block")
    names = [s.name for s in specs]
    if names != [s.name for s in trace.stages]:
        raise FamilyContractError(f"{where}: trace stages differ from the model's "
                                  f"({len(trace.stages)} vs {len(names)})")  # fmt: skip
    for sp, st in zip(specs, trace.stages, strict=True):
        if set(sp.reads) != set(st.reads) or set(sp.writes) != {t for t, _ in st.writes}:
            raise FamilyContractError(f"{where}: stage {sp.name!r} reads/writes differ "
                                      "between the model and the trace")  # fmt: skip
    if sum(p.numel() for p in meta.parameters()) > MAX_RUN_PARAMS:
        return
    model = random_model(shape, seed=0)
    inputs = random_inputs(shape, batch=2, seed=1)
    with torch.no_grad():
        mono, staged = model(inputs), run_all_stages(model, inputs)
    actions = mono.get("actions")
    want = (2, shape.head.chunk, shape.head.action_dim)
    if actions is None or tuple(actions.shape) != want or not torch.isfinite(actions).all():
        got = None if actions is None else tuple(actions.shape)
        raise FamilyContractError(f"{where}: actions {got}; allowed: finite {want}")
    if set(mono) != set(staged) or any(
        (mono[k] - staged[k]).abs().max().item() > 1e-5 for k in mono
    ):
        raise FamilyContractError(f"{where}: running the stages one by one differs from forward")
