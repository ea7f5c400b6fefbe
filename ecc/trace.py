"""Analytic execution trace of one action generation, built from a :class:`VLAShape`.

The trace lists every stage invocation in execution order (vision towers, projector, LLM
prefill, the autoregressive decode loop per token with its KV length, flow / diffusion
steps), each with FLOPs, weights read, activation traffic and the named tensors it reads
and writes. Stage names follow ``agents/staged.py``; at ``granularity="sublayer"`` every
transformer block is split at the boundaries RoboECC cuts at (after norm, attention, MLP
up, MLP down), e.g. ``llm.decode.t3.layer5.mlp_up``.

A *unit* is one position of the static layer chain (``llm.layer5.attn``); repeated
invocations (decode tokens, denoising steps) map to the same unit, share its weights and
are placed together. A single cut ``c`` in ``0..n_units`` puts units ``< c`` on one side.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from agents.shapes import DecoderShape, ViTShape, VLAShape
from ecc.errors import InvalidValueError, check_choice, check_positive

GRANULARITIES = ("block", "sublayer")
SUBLAYERS = ("attn_norm", "attn", "mlp_norm", "mlp_up", "mlp_down")
TOKEN_BYTES = 8  # int64 token ids, as the torch models exchange them
ACTION_VALUE_BYTES = 4  # fp32 actions / noise


@dataclass(frozen=True)
class Unit:
    """One cut-able position of the static layer chain; its weights live on one device."""

    name: str
    kind: str
    params: int  # parameters resident for this unit (count)
    kv_elems: int = 0  # KV-cache elements it keeps at the end of a generation (count)


@dataclass(frozen=True)
class TraceStage:
    """One stage invocation.

    FLOPs are split into matmul FLOPs (what ``torch.utils.flop_counter`` counts) and the
    element-wise rest (norms, activations, softmax, residual adds). ``weight_elems`` is
    the number of weights this invocation reads from memory (an embedding lookup reads
    only the rows it uses). ``writes`` pairs each written tensor with its size on the wire
    in bytes.
    """

    name: str
    kind: str
    module: str
    unit: int
    matmul_flops: float
    other_flops: float
    weight_elems: int
    act_read_elems: int
    act_write_elems: int
    kernels: int
    reads: tuple[str, ...]
    writes: tuple[tuple[str, int], ...]
    step: int | None = None
    layer: int | None = None

    @property
    def flops(self) -> float:
        """Total FLOPs of this invocation."""
        return self.matmul_flops + self.other_flops


@dataclass
class ExecutionTrace:
    """The unrolled stage list plus the unit chain and the tensors entering / leaving it.

    ``inputs`` maps source tensors (they start on the edge) to their size in bytes;
    ``free_inputs`` are generated locally on either side (seeded noise) and never sent.
    ``outputs`` are the tensors the robot needs back on the edge (the actions).
    """

    shape_name: str
    granularity: str
    units: list[Unit]
    stages: list[TraceStage]
    inputs: dict[str, int]
    free_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    act_bytes: float
    meta: dict = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_cuts(self) -> int:
        """Cut candidates: before unit 0 .. after the last unit."""
        return len(self.units) + 1

    def cut_index(self, stage_or_unit: str) -> int:
        """Cut right after the unit called (or used by the stage called) ``stage_or_unit``."""
        for i, u in enumerate(self.units):
            if u.name == stage_or_unit:
                return i + 1
        for s in self.stages:
            if s.name == stage_or_unit:
                return s.unit + 1
        from ecc.errors import UnknownNameError

        raise UnknownNameError("cut", stage_or_unit, [u.name for u in self.units[:8]] + ["..."])

    def cut_name(self, cut: int) -> str:
        """Human-readable name of cut ``cut`` (``after:<unit>`` or ``start``)."""
        return "start" if cut == 0 else f"after:{self.units[cut - 1].name}"

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """Per-stage numpy columns (unit, flops, weights, activations, kernels)."""
        st = self.stages
        return {
            "unit": np.array([s.unit for s in st], dtype=np.int64),
            "matmul_flops": np.array([s.matmul_flops for s in st], dtype=np.float64),
            "flops": np.array([s.flops for s in st], dtype=np.float64),
            "weight_elems": np.array([s.weight_elems for s in st], dtype=np.float64),
            "act_elems": np.array(
                [s.act_read_elems + s.act_write_elems for s in st], dtype=np.float64
            ),
            "kernels": np.array([s.kernels for s in st], dtype=np.float64),
            "unit_params": np.array([u.params for u in self.units], dtype=np.float64),
            "unit_kv_elems": np.array([u.kv_elems for u in self.units], dtype=np.float64),
        }

    def total_flops(self) -> float:
        """FLOPs of one action generation."""
        return float(self.arrays["flops"].sum())

    def total_params(self) -> int:
        """Parameters of the model (each unit once)."""
        return int(sum(u.params for u in self.units))


# ----------------------------------------------------------------------------------------
# builder


class _Builder:
    """Accumulates units and stages; one method per architectural piece."""

    def __init__(self, granularity: str, act_bytes: float) -> None:
        self.gran = granularity
        self.ab = act_bytes
        self.units: list[Unit] = []
        self.unit_index: dict[str, int] = {}
        self.stages: list[TraceStage] = []

    def unit(self, name: str, kind: str, params: int, kv_elems: int = 0) -> int:
        if name not in self.unit_index:
            self.unit_index[name] = len(self.units)
            self.units.append(Unit(name, kind, int(params), int(kv_elems)))
        return self.unit_index[name]

    def wire(self, elems: float) -> int:
        return round(elems * self.ab)

    def add(
        self,
        name,
        kind,
        module,
        unit,
        mm,
        other,
        w,
        ar,
        aw,
        kernels,
        reads,
        writes,
        step=None,
        layer=None,
    ):
        self.stages.append(
            TraceStage(
                name,
                kind,
                module,
                unit,
                float(mm),
                float(other),
                int(w),
                int(ar),
                int(aw),
                int(kernels),
                tuple(reads),
                tuple(writes),
                step,
                layer,
            )
        )

    # -- one transformer block, split or whole ----------------------------------------------
    def block(
        self,
        prefix: str,
        unit_prefix: str,
        module: str,
        kind: str,
        hidden: int,
        q_dim: int,
        kv_dim: int,
        inter: int,
        s: int,
        ctx: int,
        *,
        gated: bool,
        biases: bool,
        h: str,
        kv_read: str | None,
        kv_write: str | None,
        kv_ctx_elems_before: int,
        step: int | None,
        layer: int,
        kv_resident: int,
    ) -> None:
        """Emit one block: ``s`` query tokens attending over ``ctx`` keys.

        ``kv_read`` is a cache tensor produced earlier (decode steps, or the VLM cache an
        action expert attends to); ``kv_ctx_elems_before`` its size in elements.
        """
        H, I = hidden, inter  # noqa: E741 (the paper's symbol)
        n_mats = 3 if gated else 2
        b = 1 if biases else 0
        norm_p = H * (2 if biases else 1)
        attn_p = H * q_dim * 2 + H * kv_dim * 2 + b * (2 * q_dim + 2 * kv_dim)
        up_p = (n_mats - 1) * H * I + b * (n_mats - 1) * I
        down_p = I * H + b * H
        attn_mm = 2 * s * (2 * H * q_dim + 2 * H * kv_dim) + 4 * s * ctx * q_dim
        heads_ctx = s * ctx * max(1, q_dim // 64)
        parts = {
            "attn_norm": (0, 5 * s * H, norm_p, s * H, s * H, 2),
            "attn": (
                attn_mm,
                5 * heads_ctx + s * H,
                attn_p,
                2 * s * H + kv_ctx_elems_before,
                s * H + 2 * s * kv_dim,
                10,
            ),
            "mlp_norm": (0, 5 * s * H, norm_p, s * H, s * H, 2),
            "mlp_up": (2 * (n_mats - 1) * s * H * I, 5 * s * I, up_p, s * H, s * I, n_mats + 1),
            "mlp_down": (2 * s * I * H, s * H, down_p, s * I + s * H, s * H, 2),
        }
        kv_out = []
        if kv_write is not None:
            kv_out = [(kv_write, self.wire(kv_ctx_elems_before + 2 * s * kv_dim))]
        reads_of = {
            "attn_norm": (h,),
            "attn": ("x", h) + ((kv_read,) if kv_read else ()),
            "mlp_norm": (h,),
            "mlp_up": ("x",),
            "mlp_down": ("u", h),
        }
        writes_of = {
            "attn_norm": [("x", self.wire(s * H))],
            "attn": [(h, self.wire(s * H)), *kv_out],
            "mlp_norm": [("x", self.wire(s * H))],
            "mlp_up": [("u", self.wire(s * I))],
            "mlp_down": [(h, self.wire(s * H))],
        }
        if self.gran == "sublayer":
            for sub in SUBLAYERS:
                mm, other, w, ar, aw, k = parts[sub]
                u = self.unit(f"{unit_prefix}.{sub}", sub, w, kv_resident if sub == "attn" else 0)
                self.add(
                    f"{prefix}.{sub}",
                    sub,
                    module,
                    u,
                    mm,
                    other,
                    w,
                    ar,
                    aw,
                    k,
                    reads_of[sub],
                    writes_of[sub],
                    step,
                    layer,
                )
        else:
            tot = [sum(p[i] for p in parts.values()) for i in range(6)]
            u = self.unit(unit_prefix, kind, tot[2], kv_resident)
            reads = (h,) + ((kv_read,) if kv_read else ())
            self.add(
                prefix,
                kind,
                module,
                u,
                tot[0],
                tot[1],
                tot[2],
                s * H + kv_ctx_elems_before,
                s * H + 2 * s * kv_dim,
                tot[5],
                reads,
                [(h, self.wire(s * H)), *kv_out],
                step,
                layer,
            )

    # -- pieces -------------------------------------------------------------------------
    def vit(self, t: int, vit: ViTShape, tokens: int, cameras: int) -> str:
        H, p = vit.hidden, vit.patch_size
        pe_params = vit.channels * p * p * H + H + vit.num_patches * H
        u = self.unit(f"vision.{vit.name}.patch_embed", "vision_patch", pe_params)
        img_elems = cameras * vit.channels * vit.image_size**2
        out = f"vis.{vit.name}"
        self.add(
            f"vision.{vit.name}.patch_embed",
            "vision_patch",
            f"vision.{vit.name}.patch_embed",
            u,
            2 * tokens * vit.channels * p * p * H,
            2 * tokens * H,
            pe_params,
            img_elems,
            tokens * H,
            3,
            ("images",),
            [(out, self.wire(tokens * H))],
        )
        for i in range(vit.layers):
            self.block(
                f"vision.{vit.name}.block{i}",
                f"vision.{vit.name}.block{i}",
                f"vision.{vit.name}.blocks.{i}",
                "vision_block",
                H,
                H,
                H,
                vit.mlp,
                tokens,
                tokens,
                gated=False,
                biases=True,
                h=out,
                kv_read=None,
                kv_write=None,
                kv_ctx_elems_before=0,
                step=None,
                layer=i,
                kv_resident=0,
            )
        return out

    def projector(self, shape: VLAShape, tokens: int, towers: list[str]) -> None:
        pr = shape.projector
        dims = [pr.in_dim] + [pr.hidden] * (pr.depth - 1) + [pr.out_dim]
        params = sum(a * b + b for a, b in itertools.pairwise(dims))
        mm = sum(2 * tokens * a * b for a, b in itertools.pairwise(dims))
        u = self.unit("projector", "projector", params)
        self.add(
            "projector",
            "projector",
            "projector",
            u,
            mm,
            8 * tokens * sum(dims[1:]),
            params,
            tokens * pr.in_dim,
            tokens * pr.out_dim,
            2 * pr.depth,
            tuple(towers),
            [("vis_emb", self.wire(tokens * pr.out_dim))],
        )


def build_trace(
    shape: VLAShape | str,
    *,
    granularity: str = "sublayer",
    act_bytes: float = 2.0,
    prompt_tokens: int | None = None,
    image_bytes_per_pixel: float = 1.0,
) -> ExecutionTrace:
    """Trace of one action generation of ``shape`` (a :class:`VLAShape` or a zoo name).

    Args:
        granularity: ``"block"`` (one stage per transformer block) or ``"sublayer"``
            (RoboECC's in-block boundaries).
        act_bytes: bytes per activation value in memory and on the wire (2 for bf16).
        prompt_tokens: overrides ``shape.prompt_tokens``.
        image_bytes_per_pixel: bytes per pixel channel of the uploaded images (1 for uint8).
    """
    if isinstance(shape, str):
        from ecc.catalog import get_shape

        shape = get_shape(shape)
    check_choice("granularity", granularity, GRANULARITIES)
    check_positive("act_bytes", act_bytes)
    P = shape.prompt_tokens if prompt_tokens is None else int(prompt_tokens)
    if P < 0:
        raise InvalidValueError("prompt_tokens", P, ">= 0")
    b = _Builder(granularity, act_bytes)
    V = shape.vision_tokens
    towers = [b.vit(t, vit, V, shape.cameras) for t, vit in enumerate(shape.vision)]
    b.projector(shape, V, towers)
    llm, head = shape.llm, shape.head
    H, kvd = llm.hidden, llm.kv_heads * llm.head_dim
    extra_in = {
        "ar_tokens": 0,
        "l1_chunk": head.chunk * head.action_dim,
        "flow_expert": 0,
        "dit": 1,
    }[head.kind]
    S = V + P + extra_in
    vocab_p = llm.vocab_size * H
    u = b.unit("llm.embed", "embed", vocab_p)
    b.add(
        "llm.embed",
        "embed",
        "llm.embed",
        u,
        0,
        S * H,
        (P + extra_in) * H,
        P + V * H,
        S * H,
        2,
        ("input_ids", "vis_emb"),
        [("h", b.wire(S * H))],
    )
    cache_len = S + (head.action_dim - 1 if head.kind == "ar_tokens" else 0)
    for i in range(llm.layers):
        b.block(
            f"llm.prefill.layer{i}",
            f"llm.layer{i}",
            f"llm.layers.{i}",
            "llm_layer",
            H,
            H,
            kvd,
            llm.intermediate,
            S,
            S,
            gated=True,
            biases=False,
            h="h",
            kv_read=None,
            kv_write=f"kv{i}",
            kv_ctx_elems_before=0,
            step=None,
            layer=i,
            kv_resident=2 * cache_len * kvd,
        )
    un = b.unit("llm.norm", "norm", H)
    out_tokens = 1 if head.kind in ("ar_tokens", "dit") else S
    if head.kind == "ar_tokens":
        b.add(
            "llm.prefill.norm",
            "norm",
            "llm.norm",
            un,
            0,
            5 * H,
            H,
            H,
            H,
            2,
            ("h",),
            [("x", b.wire(H))],
        )
        uh = b.unit("llm.head", "lm_head", H * llm.vocab_size if not llm.tie_embeddings else 0)
        for t in range(head.action_dim):
            if t > 0:
                b.add(
                    f"llm.decode.t{t}.embed",
                    "embed",
                    "llm.embed",
                    u,
                    0,
                    H,
                    H,
                    1,
                    H,
                    1,
                    (f"tok{t - 1}",),
                    [("h", b.wire(H))],
                    step=t,
                )
                for i in range(llm.layers):
                    ctx = S + t
                    b.block(
                        f"llm.decode.t{t}.layer{i}",
                        f"llm.layer{i}",
                        f"llm.layers.{i}",
                        "llm_layer",
                        H,
                        H,
                        kvd,
                        llm.intermediate,
                        1,
                        ctx,
                        gated=True,
                        biases=False,
                        h="h",
                        kv_read=f"kv{i}",
                        kv_write=f"kv{i}",
                        kv_ctx_elems_before=2 * (ctx - 1) * kvd,
                        step=t,
                        layer=i,
                        kv_resident=2 * cache_len * kvd,
                    )
                b.add(
                    f"llm.decode.t{t}.norm",
                    "norm",
                    "llm.norm",
                    un,
                    0,
                    5 * H,
                    H,
                    H,
                    H,
                    2,
                    ("h",),
                    [("x", b.wire(H))],
                    step=t,
                )
            b.add(
                f"llm.decode.t{t}.head",
                "lm_head",
                "llm.lm_head",
                uh,
                2 * H * llm.vocab_size,
                3 * llm.vocab_size,
                H * llm.vocab_size,
                H,
                llm.vocab_size,
                3,
                ("x",),
                [(f"tok{t}", TOKEN_BYTES)],
                step=t,
            )
        outputs = tuple(f"tok{t}" for t in range(head.action_dim))
    elif head.kind == "l1_chunk":
        n = head.chunk * head.action_dim
        b.add(
            "llm.prefill.norm",
            "norm",
            "llm.norm",
            un,
            0,
            5 * n * H,
            H,
            n * H,
            n * H,
            2,
            ("h",),
            [("x", b.wire(n * H))],
        )
        hp = H * H + H + H * 1 + 1
        uh = b.unit("head", "head", hp)
        b.add(
            "head",
            "head",
            "action_head",
            uh,
            2 * n * (H * H + H),
            8 * n * H,
            hp,
            n * H,
            n,
            3,
            ("x",),
            [("actions", n * ACTION_VALUE_BYTES)],
        )
        outputs = ("actions",)
    else:
        ex = head.expert
        if ex is None:
            raise InvalidValueError(
                "head.expert", None, "a DecoderShape for flow_expert / dit heads"
            )
        outputs = ("a_t",)
        if head.kind == "dit":
            b.add(
                "llm.prefill.norm",
                "norm",
                "llm.norm",
                un,
                0,
                5 * H,
                H,
                H,
                H,
                2,
                ("h",),
                [("cog", b.wire(H))],
            )
        _expert(b, shape, ex, S, kvd)
    return ExecutionTrace(
        shape_name=shape.name,
        granularity=granularity,
        units=b.units,
        stages=b.stages,
        inputs={
            "images": int(
                shape.cameras
                * shape.vision[0].channels
                * shape.vision[0].image_size ** 2
                * image_bytes_per_pixel
            ),
            "input_ids": TOKEN_BYTES * P,
            **(
                {"state": head.action_dim * ACTION_VALUE_BYTES}
                if head.kind == "flow_expert"
                else {}
            ),
        },
        free_inputs=("a_t",) if head.kind in ("flow_expert", "dit") else (),
        outputs=outputs,
        act_bytes=act_bytes,
        meta={
            "prefix_tokens": S,
            "family": shape.family,
            "head": head.kind,
            "out_tokens": out_tokens,
        },
    )


def _expert(b: _Builder, shape: VLAShape, ex: DecoderShape, S: int, vlm_kvd: int) -> None:
    """Flow-matching action expert (pi0) or DiT (CogACT), unrolled over its steps."""
    head = shape.head
    He, T = ex.hidden, head.chunk
    A = head.action_dim
    if head.kind == "dit":
        # Tokens: cognition condition + timestep + noisy actions; full self-attention.
        T_tok = T + 2
        emb_p = A * He + He + 2 * He * He + 2 * He + shape.llm.hidden * He + He + T_tok * He
        emb_mm = 2 * (T * A * He + 2 * He * He + shape.llm.hidden * He)
        emb_reads: tuple[str, ...] = ("a_t", "cog")
    else:
        # pi0: state token + actions, time mixed in by a 2-layer MLP; attends to the prefix KV.
        T_tok = T + 1
        emb_p = A * He + He + 2 * (2 * He * He + He) + A * He
        emb_mm = 2 * (T * A * He + T * 2 * He * He * 2 + A * He)
        emb_reads = ("a_t", "state")
    ue = b.unit("expert.embed", "expert_in", emb_p)
    kvd = ex.kv_heads * ex.head_dim
    out_p = He * A + A + 2 * He
    for s in range(head.steps):
        b.add(
            f"expert.s{s}.embed",
            "expert_in",
            "expert.embed",
            ue,
            emb_mm,
            8 * T_tok * He,
            emb_p,
            T * A,
            T_tok * He,
            6,
            emb_reads,
            [("he", b.wire(T_tok * He))],
            step=s,
        )
        for i in range(ex.layers):
            if head.kind == "dit":
                b.block(
                    f"expert.s{s}.layer{i}",
                    f"expert.layer{i}",
                    f"expert.layers.{i}",
                    "expert_layer",
                    He,
                    He,
                    He,
                    ex.intermediate,
                    T_tok,
                    T_tok,
                    gated=False,
                    biases=True,
                    h="he",
                    kv_read=None,
                    kv_write=None,
                    kv_ctx_elems_before=0,
                    step=s,
                    layer=i,
                    kv_resident=0,
                )
            else:
                vlm_layer = min(i, shape.llm.layers - 1)
                b.block(
                    f"expert.s{s}.layer{i}",
                    f"expert.layer{i}",
                    f"expert.layers.{i}",
                    "expert_layer",
                    He,
                    He,
                    kvd,
                    ex.intermediate,
                    T_tok,
                    S + T_tok,
                    gated=True,
                    biases=False,
                    h="he",
                    kv_read=f"kv{vlm_layer}",
                    kv_write=None,
                    kv_ctx_elems_before=2 * S * vlm_kvd,
                    step=s,
                    layer=i,
                    kv_resident=0,
                )
        uo = b.unit("expert.out", "expert_out", out_p)  # registered after the layers: chain order
        b.add(
            f"expert.s{s}.out",
            "expert_out",
            "expert.out",
            uo,
            2 * T * He * A,
            5 * T_tok * He + 3 * T * A,
            out_p,
            T * He,
            T * A,
            3,
            ("he", "a_t"),
            [("a_t", T * A * ACTION_VALUE_BYTES)],
            step=s,
        )
