"""The analytic trace builder (registered as ``"analytic"``): every family whose head is one of
``agents.families.HEAD_KINDS``, built stage by stage from a :class:`VLAShape`.

Mirrors agents/models (stage names, tensor names, which stage embeds what) so the analytic
trace at block granularity lists the same stages, reading and writing the same tensors, as
``agents.zoo.build_model(shape).stages()``; at ``granularity="sublayer"`` every transformer
block is split at the boundaries RoboECC cuts at (after norm, attention, MLP up, MLP down).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from agents.shapes import DecoderShape, ViTShape, VLAShape
from ecc.errors import InvalidValueError
from ecc.trace_types import ExecutionTrace, TraceStage, Unit

SUBLAYERS = ("attn_norm", "attn", "mlp_norm", "mlp_up", "mlp_down")
TOKEN_BYTES = 8  # int64 token ids, as the torch models exchange them
ACTION_VALUE_BYTES = 4  # fp32 actions / noise
_TIME_FREQ_DIM = 256  # CogACT DiT timestep-embedder input width (agents/models/cogact.py)


@dataclass(frozen=True)
class _BlockDims:
    hidden: int
    q_dim: int
    kv_dim: int
    inter: int
    gated: bool
    bias: bool
    layer_norm: bool
    rope: bool = False

    @classmethod
    def of_decoder(cls, d: DecoderShape) -> _BlockDims:
        hd = d.head_dim
        return cls(d.hidden, d.heads * hd, d.kv_heads * hd, d.intermediate,
                   getattr(d, "gated_mlp", True), getattr(d, "bias", False),
                   getattr(d, "norm", "rms") == "layer", getattr(d, "rope", True))  # fmt: skip

    @classmethod
    def of_vit(cls, v: ViTShape) -> _BlockDims:
        return cls(v.hidden, v.hidden, v.hidden, v.mlp, False, True, True, False)

    def kernels(self) -> dict[str, int]:
        """Eager ops dispatched per sub-layer by agents/layers.Block (counted once with
        TorchDispatchMode on the tiny models; views included, since each costs a dispatch)."""
        norm = 2 if self.layer_norm else 7
        attn = 26 + (38 if self.rope else 0) + (3 if self.kv_dim < self.q_dim else 0)
        return {"attn_norm": norm, "attn": attn, "mlp_norm": norm, "mlp_up": 11 if self.gated else 5,
                "mlp_down": 4}  # fmt: skip


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
            TraceStage(name, kind, module, unit, float(mm), float(other), int(w), int(ar), int(aw), int(kernels),
                       tuple(reads), tuple(writes), step, layer)
        )  # fmt: skip

    def block(
        self,
        name: str,
        unit_name: str,
        module: str,
        kind: str,
        d: _BlockDims,
        *,
        batch: int,
        s: int,
        ctx: int,
        h: str,
        reads: tuple[str, ...],
        kv: tuple[str, str] | None,
        kv_writes: bool,
        past_kv_elems: int,
        step: int | None,
        layer: int,
        kv_resident: int,
        pre: tuple[float, float, int] = (0.0, 0.0, 0),
        pre_k: int = 0,
    ) -> None:
        """One pre-norm block: ``batch`` x ``s`` query tokens attending over ``ctx`` keys.

        ``reads`` are the block's inputs (the residual stream, or what its embedding reads);
        ``kv`` names the key / value tensors it extends or attends to; ``past_kv_elems`` is
        their size before this block (elements, keys and values together). ``pre`` =
        (matmul FLOPs, other FLOPs, params) of an input embedding folded into this stage.
        """
        H, q, kvd, inter = d.hidden, d.q_dim, d.kv_dim, d.inter
        n = batch * s
        n_up = 2 if d.gated else 1
        b = int(d.bias)
        norm_p = H * (2 if d.layer_norm else 1)
        attn_p = 2 * H * q + 2 * H * kvd + b * (2 * q + 2 * kvd) - b * q + b * H
        up_p = n_up * (H * inter + b * inter)
        down_p = inter * H + b * H
        attn_mm = 2 * n * (2 * H * q + 2 * H * kvd) + 4 * batch * s * ctx * q
        heads = max(1, q // 64)
        new_kv = 2 * n * kvd
        k = d.kernels()
        parts = {
            "attn_norm": (pre[0], pre[1] + 5 * n * H, norm_p + pre[2], n * H, n * H, k["attn_norm"] + pre_k),
            "attn": (attn_mm, 5 * batch * s * ctx * heads + 2 * n * H, attn_p, 2 * n * H + past_kv_elems,
                     n * H + new_kv, k["attn"]),
            "mlp_norm": (0, 5 * n * H, norm_p, n * H, n * H, k["mlp_norm"]),
            "mlp_up": (2 * n_up * n * H * inter, 5 * n * inter, up_p, n * H, n * inter, k["mlp_up"]),
            "mlp_down": (2 * n * inter * H, n * H, down_p, n * inter + n * H, n * H, k["mlp_down"]),
        }  # fmt: skip
        kv_reads = kv if kv else ()
        kv_out = []
        if kv and kv_writes:
            half = self.wire((past_kv_elems + new_kv) / 2)
            kv_out = [(kv[0], half), (kv[1], half)]
        hw = [(h, self.wire(n * H))]
        if self.gran == "sublayer":
            xn, u = "blk.xn", "blk.u"
            reads_of = {"attn_norm": reads, "attn": (xn, h, *kv_reads), "mlp_norm": (h,), "mlp_up": (xn,),
                        "mlp_down": (u, h)}  # fmt: skip
            writes_of = {
                "attn_norm": ([(h, self.wire(n * H))] if h not in reads else [])
                + [(xn, self.wire(n * H))],
                "attn": [*hw, *kv_out],
                "mlp_norm": [(xn, self.wire(n * H))],
                "mlp_up": [(u, self.wire(n * inter))],
                "mlp_down": hw,
            }
            for sub in SUBLAYERS:
                mm, other, w, ar, aw, k = parts[sub]
                un = self.unit(f"{unit_name}.{sub}", sub, w, kv_resident if sub == "attn" else 0)
                self.add(f"{name}.{sub}", sub, module, un, mm, other, w, ar, aw, k, reads_of[sub], writes_of[sub],
                         step, layer)  # fmt: skip
        else:
            tot = [sum(p[i] for p in parts.values()) for i in range(6)]
            un = self.unit(unit_name, kind, tot[2], kv_resident)
            self.add(name, kind, module, un, tot[0], tot[1], tot[2], n * H + past_kv_elems, n * H + new_kv, tot[5],
                     (*reads, *kv_reads), [*hw, *kv_out], step, layer)  # fmt: skip

    def vit(self, v: ViTShape, cameras: int) -> str:
        H = v.hidden
        n_prefix = getattr(v, "cls_tokens", 0) + getattr(v, "register_tokens", 0)
        T = v.num_patches + n_prefix
        pe_params = v.patch_embed_params + v.num_patches * H + n_prefix * H
        name = f"vision.{v.name}.patch_embed"
        un = self.unit(name, "vision_patch", pe_params)
        out = f"vision.{v.name}.x"
        img_elems = cameras * v.channels * v.image_size**2
        kp_dim = getattr(v, "keypoint_dim", 0)
        kp_writes = [(f"vision.{v.name}.kp", self.wire(cameras * kp_dim))] if kp_dim else []
        self.add(name, "vision_patch", f"towers.{v.name}.embed", un, 2 * cameras * v.patch_embed_macs,
                 2 * cameras * T * H, pe_params, img_elems, cameras * T * H, 7,
                 ("images", "tokens") if getattr(v, "film_vocab", 0) else ("images",),
                 [(out, self.wire(cameras * T * H)), *kp_writes])  # fmt: skip
        d = _BlockDims.of_vit(v)
        for i in range(getattr(v, "blocks_run", v.layers)):
            self.block(f"vision.{v.name}.block{i}", f"vision.{v.name}.block{i}", f"towers.{v.name}.blocks.{i}",
                       "vision_block", d, batch=cameras, s=T, ctx=T, h=out, reads=(out,), kv=None, kv_writes=False,
                       past_kv_elems=0, step=None, layer=i, kv_resident=0)  # fmt: skip
        return out

    def projector(self, shape: VLAShape, towers: list[str]) -> None:
        pr = shape.projector
        dims = (
            list(pr.dims)
            if hasattr(pr, "dims")
            else [pr.in_dim] + [pr.hidden] * (pr.depth - 1) + [pr.out_dim]
        )
        v0 = shape.vision[0]
        n = shape.cameras * getattr(v0, "tokens_out", v0.num_patches)
        pairs = list(itertools.pairwise(dims))
        norms = sum(2 * v.hidden for v in shape.vision if getattr(v, "final_norm", True))
        params = sum(a * b + b for a, b in pairs) + norms
        mm = sum(2 * n * a * b for a, b in pairs)
        # keypoint projections: one vector per image -> LLM width, added to its tokens
        kps = [(v.name, v.keypoint_dim) for v in shape.vision if getattr(v, "keypoint_dim", 0)]
        params += sum(k * dims[-1] + dims[-1] for _, k in kps)
        mm += sum(2 * shape.cameras * k * dims[-1] for _, k in kps)
        reads = (*towers, *(f"vision.{name}.kp" for name, _ in kps))
        un = self.unit("projector", "projector", params)
        self.add("projector", "projector", "projector", un, mm, 8 * n * sum(dims[1:]), params, n * dims[0],
                 n * dims[-1], 3 * len(pairs) + 2 * (len(pairs) - 1) + 4 * len(shape.vision), reads,
                 [("prefix.vision", self.wire(n * dims[-1]))])  # fmt: skip


def analytic_trace(
    shape: VLAShape, granularity: str, act_bytes: float, P: int, image_bytes_per_value: float
) -> ExecutionTrace:
    """The trace of every family whose head is one of ``agents.families.HEAD_KINDS``: the VLM
    prefix, then the head by ``shape.head.kind``; the family facts (extra LLM tokens, proprio
    in the prefix) come from the family registry through the shape."""
    b = _Builder(granularity, act_bytes)
    towers = [b.vit(v, shape.cameras) for v in shape.vision]
    b.projector(shape, towers)
    llm, head = shape.llm, shape.head
    d = _BlockDims.of_decoder(llm)
    H = llm.hidden
    S = shape.llm_tokens_for(P)
    pd = shape.proprio_dim
    n_extra = shape.extra_llm_tokens
    pro_in = shape.proprio_in_prefix
    emb_p = max(llm.vocab_size, 1) * H + (pd * H + H if pro_in else 0) + n_extra * H
    ue = b.unit("llm.embed", "embed", emb_p)
    b.add("llm.embed", "embed", "embed", ue, 2 * pd * H if pro_in else 0, S * H,
          (P + n_extra + (pd if pro_in else 0)) * H, P + S * H, S * H, 2 + 3 * int(pro_in) + int(n_extra > 0),
          ("prefix.vision", "tokens", *(("proprio",) if pro_in else ())), [("llm.h", b.wire(S * H))])  # fmt: skip
    writes_kv = head.kind in ("ar_tokens", "flow_expert")
    n_dec = head.chunk * head.action_dim if head.kind == "ar_tokens" else 0
    cache_len = S + max(n_dec - 1, 0)
    for i in range(llm.layers):
        b.block(f"llm.prefill.layer{i}", f"llm.layer{i}", f"llm.layers.{i}", "llm_layer", d, batch=1, s=S, ctx=S,
                h="llm.h", reads=("llm.h",), kv=(f"kv.{i}.k", f"kv.{i}.v") if writes_kv else None,
                kv_writes=writes_kv, past_kv_elems=0, step=None, layer=i,
                kv_resident=2 * cache_len * d.kv_dim if writes_kv else 0)  # fmt: skip
        if writes_kv:  # prefill attention reads no cache: drop the kv names from its reads
            st = b.stages[-1] if granularity == "block" else b.stages[-4]
            b.stages[b.stages.index(st)] = replace(
                st, reads=tuple(r for r in st.reads if not r.startswith("kv."))
            )
    un = b.unit("llm.norm", "norm", H * (2 if d.layer_norm else 1))
    if head.kind == "ar_tokens":
        b.add("llm.prefill.norm", "norm", "llm.norm", un, 0, 5 * H, H, H, H, 7, ("llm.h",),
              [("llm.out", b.wire(H))])  # fmt: skip
        tied = llm.tie_embeddings
        uh = b.unit("llm.head", "lm_head", 0 if tied else H * llm.vocab_size)
        logits = b.wire(head.bins)  # action-bin logits at the activation dtype
        for t in range(n_dec):
            if t > 0:
                b.add(f"llm.decode.t{t}.embed", "embed", "embed.tokens", ue, 0, H, H, 1, H, 2, ("llm.token",),
                      [("llm.h", b.wire(H))], step=t)  # fmt: skip
                for i in range(llm.layers):
                    ctx = S + t
                    b.block(f"llm.decode.t{t}.layer{i}", f"llm.layer{i}", f"llm.layers.{i}", "llm_layer", d,
                            batch=1, s=1, ctx=ctx, h="llm.h", reads=("llm.h",), kv=(f"kv.{i}.k", f"kv.{i}.v"),
                            kv_writes=True, past_kv_elems=2 * (ctx - 1) * d.kv_dim, step=t, layer=i,
                            kv_resident=2 * cache_len * d.kv_dim)  # fmt: skip
            b.add(f"llm.decode.t{t}.head", "lm_head", "embed.tokens" if tied else "llm.lm_head", uh,
                  2 * H * llm.vocab_size, 5 * H + 3 * llm.vocab_size, H * llm.vocab_size, H, llm.vocab_size,
                  6 if t == 0 else 13,
                  ("llm.out" if t == 0 else "llm.h",), [("llm.token", TOKEN_BYTES), (f"out.logits.t{t}", logits)],
                  step=t)  # fmt: skip
        outputs: tuple[str, ...] = tuple(f"out.logits.t{t}" for t in range(n_dec))
    elif head.kind == "l1_chunk":
        n = head.chunk * head.action_dim
        b.add("llm.prefill.norm", "norm", "llm.norm", un, 0, 5 * n * H, H, n * H, n * H, 7, ("llm.h",),
              [("llm.out", b.wire(n * H))])  # fmt: skip
        in_dim, hid, nb = (
            head.action_dim * H,
            getattr(head, "mlp_hidden", 0),
            getattr(head, "mlp_blocks", 2),
        )
        dims = (
            [(in_dim, hid), *([(hid, hid)] * nb), (hid, head.action_dim)]
            if hid
            else [(in_dim, head.action_dim)]
        )
        hp = sum(a * c + c for a, c in dims) + (2 * in_dim + 2 * hid * (nb + 1) if hid else 0)
        uh = b.unit("head", "head", hp)
        b.add("head", "head", "action_head", uh, sum(2 * head.chunk * a * c for a, c in dims), 8 * head.chunk * in_dim,
              hp, n * H, head.chunk * head.action_dim, 6 * len(dims) + 2, ("llm.out",),
              [("actions", head.chunk * head.action_dim * ACTION_VALUE_BYTES)])  # fmt: skip
        outputs = ("actions",)
    else:
        if head.expert is None:
            raise InvalidValueError(
                "head.expert", None, "a DecoderShape for flow_expert / dit heads"
            )
        if head.kind == "dit":
            b.add("llm.prefill.norm", "norm", "llm.norm", un, 0, 5 * H, H, H, H, 7, ("llm.h",),
                  [("cog.feature", b.wire(H))])  # fmt: skip
        _expert(b, shape, head.expert, S, d.kv_dim)
        outputs = ("expert.x",)
    inputs = {
        "images": int(
            shape.cameras
            * shape.vision[0].channels
            * shape.vision[0].image_size ** 2
            * image_bytes_per_value
        ),
        "tokens": TOKEN_BYTES * P,
    }
    if pd:
        inputs["proprio"] = pd * ACTION_VALUE_BYTES
    if head.kind in ("flow_expert", "dit"):
        inputs["expert.x"] = head.chunk * head.action_dim * ACTION_VALUE_BYTES  # the initial noise
    return ExecutionTrace(
        shape_name=shape.name,
        granularity=granularity,
        units=b.units,
        stages=b.stages,
        inputs=inputs,
        free_inputs=(),
        outputs=outputs,
        act_bytes=act_bytes,
        meta={
            "prefix_tokens": S,
            "family": shape.family,
            "head": head.kind,
            "decode_tokens": n_dec,
        },
    )


def _expert(b: _Builder, shape: VLAShape, ex: DecoderShape, S: int, vlm_kvd: int) -> None:
    """Flow-matching action expert (pi0) or DiT (CogACT), unrolled over its steps.

    The input embedding runs inside layer 0 of each step, as in agents/models.
    """
    head = shape.head
    w, T, A = ex.hidden, head.chunk, head.action_dim
    pd = getattr(shape, "proprio_dim", 0)
    d = _BlockDims.of_decoder(ex)
    if head.kind == "dit":
        n_tok = T + 2
        emb_p = (
            (_TIME_FREQ_DIM * w + w)
            + (w * w + w)
            + (shape.llm.hidden * w + w)
            + (A * w + w)
            + n_tok * w
        )
        emb_mm = 2 * (_TIME_FREQ_DIM * w + w * w + shape.llm.hidden * w + T * A * w)
        first_reads: tuple[str, ...] = ("expert.x", "cog.feature")
        module, out_module = "dit.layers", "dit.out"
        emb_k, out_k = 26, 27  # eager ops of the embedding / DDIM update (agents/models/cogact.py)
    else:
        n_tok = T + int(pd > 0)
        emb_p = (A * w + w) + (2 * w * w + w) + (w * w + w) + ((pd * w + w) if pd else 0)
        emb_mm = 2 * (T * A * w + T * 2 * w * w + T * w * w + pd * w)
        first_reads = ("expert.x", *(("proprio",) if pd else ()))
        module, out_module = "expert.layers", "expert.out"
        emb_k, out_k = 32, 13
    out_p = w * A + A + w * (2 if d.layer_norm else 1)
    for s in range(head.steps):
        for i in range(ex.layers):
            pi0 = head.kind == "flow_expert"
            b.block(f"expert.s{s}.layer{i}", f"expert.layer{i}", f"{module}.{i}", "expert_layer", d, batch=1,
                    s=n_tok, ctx=n_tok + (S if pi0 else 0), h="expert.h",
                    reads=first_reads if i == 0 else ("expert.h",),
                    kv=(f"kv.{i}.k", f"kv.{i}.v") if pi0 else None, kv_writes=False,
                    past_kv_elems=2 * S * vlm_kvd if pi0 else 0, step=s, layer=i, kv_resident=0,
                    pre=(emb_mm, 8 * n_tok * w, emb_p) if i == 0 else (0.0, 0.0, 0),
                    pre_k=emb_k if i == 0 else 0)  # fmt: skip
        uo = b.unit("expert.out", "expert_out", out_p)  # registered after the layers: chain order
        b.add(f"expert.s{s}.out", "expert_out", out_module, uo, 2 * T * w * A, 5 * T * w + 3 * T * A, out_p,
              T * w, T * A, out_k, ("expert.h", "expert.x"), [("expert.x", T * A * ACTION_VALUE_BYTES)], step=s)  # fmt: skip
