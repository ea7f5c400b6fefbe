"""Architecture shapes of the VLA families: plain data shared by the model zoo and the cost model.

A shape says how big each part of a VLA is, nothing about weights. The model zoo
(``agents.zoo``) builds ``nn.Module``s from it (real-size ones on the meta device);
the execution-trace builder (``ecc.trace``) derives FLOPs and bytes from it
analytically. Keeping both readers on one description is what lets the simulated
and emulated runtimes agree.

Families:
- ``openvla``: vision tower(s) -> projector -> Llama decoder -> 7 autoregressive
  action tokens (256 uniform bins).
- ``oft``: same backbone, parallel decoding of a continuous action chunk (L1 head).
- ``pi0``: VLM prefix -> action expert attending to the prefix KV cache,
  integrating a flow-matching vector field over ``head.steps`` steps.
- ``cogact``: VLM -> cognition feature -> DiT head denoising an action chunk
  over ``head.steps`` DDIM steps.

What a family implies (extra LLM tokens, proprio in the prefix, noise input, model class, trace
builder) is its entry in ``agents.families``; the properties below read it, nothing here branches
on a family name. Named shapes live in ``SHAPES`` (``register_shape``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agents.errors import ShapeConfigError
from agents.families import FamilySpec, family_spec

# A registered family name (``agents.families.FAMILIES``: openvla, oft, pi0, cogact, plug-ins).
Family = str


@dataclass(frozen=True)
class ViTShape:
    """One vision tower (ViT). Tokens per image = (image_size // patch_size) ** 2."""

    name: str
    image_size: int
    patch_size: int
    hidden: int
    layers: int
    heads: int
    mlp: int
    channels: int = 3
    # --- added by agents/ (defaults keep the original meaning) ---
    cls_tokens: int = 0  # learned prefix tokens (CLS); dropped before the projector
    register_tokens: int = 0  # DINOv2-reg "register" tokens; dropped before the projector
    layer_scale: bool = False  # per-channel LayerScale after attn and MLP (DINOv2)
    attn_pool: bool = False  # SigLIP MAP head: its weights exist (counted) but are never run
    final_norm: bool = True  # the tower has final LayerNorm weights (counted)
    post_norm: bool = True  # ... and applies them to the features handed to the projector
    skip_last: int = 0  # trailing blocks whose output is unused (OpenVLA reads layer -2)
    pixel_shuffle: int = 1  # SmolVLM space-to-depth factor: tokens out = patches / factor**2
    # Hybrid-ViT stem (Dosovitskiy et al. 2021, sec. 3.1): output channels of 3x3 stride-2
    # conv + GELU layers run before the patchify conv, whose kernel and stride shrink to
    # patch_size / 2**len(conv_stem). Empty = the plain linear patch embedding.
    conv_stem: tuple[int, ...] = ()
    # Language-conditioned stem (FiLM, as RT-1's FiLM-EfficientNet): > 0 gives the tower its own
    # instruction embedding (this many ids, width conv_stem[-1]); its sum over the prompt, scaled
    # by 1/sqrt(prompt length), sets a per-channel scale and shift after every stem conv. Tiny towers trained from scratch need
    # it to single out the named object (docs/agents.md); real-size towers have no stem.
    film_vocab: int = 0
    # Spatial-softmax keypoints (Levine et al. 2016) of the last stem feature map: the expected
    # (x, y) of every channel (``keypoint_dim`` values per image), handed past the ViT blocks to
    # the projector, which maps them to the LLM width and adds them to every vision token of the
    # image: where things are reaches the LLM as coordinates, not as a pattern to decode.
    keypoints: bool = False

    def __post_init__(self) -> None:
        if self.conv_stem and self.patch_size % (2 ** len(self.conv_stem)):
            raise ShapeConfigError(
                f"ViTShape {self.name!r}: patch_size={self.patch_size} must be divisible by "
                f"2**len(conv_stem)={2 ** len(self.conv_stem)}"
            )
        if (self.film_vocab or self.keypoints) and not self.conv_stem:
            raise ShapeConfigError(
                f"ViTShape {self.name!r}: film_vocab/keypoints act on the conv stem; "
                "allowed only with a non-empty conv_stem"
            )

    @property
    def patchify_kernel(self) -> int:
        """Kernel (= stride) of the final patchify conv, after the stride-2 stem."""
        return self.patch_size // 2 ** len(self.conv_stem)

    @property
    def patch_embed_convs(self) -> tuple[tuple[int, int, int, int], ...]:
        """Per conv of the patch embedding: (in_ch, out_ch, kernel, output side in px)."""
        convs, c_in, side = [], self.channels, self.image_size
        for c in self.conv_stem:
            side = (side + 1) // 2
            convs.append((c_in, c, 3, side))
            c_in = c
        k = self.patchify_kernel
        convs.append((c_in, self.hidden, k, side // k))
        return tuple(convs)

    @property
    def patch_embed_params(self) -> int:
        """Weights + biases of the patch embedding: convs, FiLM generator and instruction
        embedding (positions and prefix tokens excluded)."""
        convs = sum(ci * co * k * k + co for ci, co, k, _ in self.patch_embed_convs)
        return convs + self._film_sizes[0]

    @property
    def patch_embed_macs(self) -> int:
        """Multiply-accumulates of the patch embedding for one image (convs and FiLM)."""
        convs = sum(ci * co * k * k * side * side for ci, co, k, side in self.patch_embed_convs)
        return convs + self._film_sizes[1]

    @property
    def _film_sizes(self) -> tuple[int, int]:
        """(params, MACs per image) of the FiLM generator and its instruction embedding."""
        params = macs = 0
        if self.film_vocab:
            c = self.conv_stem[-1]
            out = 2 * sum(self.conv_stem)
            params += self.film_vocab * c + c * out + out
            macs += c * out
        return params, macs

    @property
    def keypoint_dim(self) -> int:
        """Keypoint values per image (x and y per last-stem channel; 0 without keypoints)."""
        return 2 * self.conv_stem[-1] if self.keypoints else 0

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def blocks_run(self) -> int:
        """Blocks executed per forward (``layers - skip_last``)."""
        return self.layers - self.skip_last

    @property
    def tokens_out(self) -> int:
        """Tokens per image handed to the projector (after pixel shuffle)."""
        return self.num_patches // (self.pixel_shuffle**2)

    @property
    def feature_dim(self) -> int:
        """Channels per output token (hidden * pixel_shuffle**2)."""
        return self.hidden * self.pixel_shuffle**2


@dataclass(frozen=True)
class DecoderShape:
    """A Llama-style decoder: RMSNorm, RoPE, SwiGLU MLP, optional GQA (kv_heads < heads)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab_size: int = 0  # 0: no embedding / LM head (e.g. an action expert)
    tie_embeddings: bool = False
    # --- added by agents/ (defaults keep the original meaning: a Llama block) ---
    head_size: int = 0  # 0: hidden // heads; Gemma uses 256 regardless of width
    mlp_act: Literal["silu", "gelu"] = "silu"  # gated: SwiGLU (Llama) / GeGLU (Gemma)
    gated_mlp: bool = True  # False: plain fc1 -> act -> fc2 (ViT/DiT block, 2 matmuls)
    norm: Literal["rms", "layer"] = "rms"  # "layer": LayerNorm with bias (DiT block)
    bias: bool = False  # biases on q/k/v/o and MLP linears (DiT block)
    rope: bool = True  # False: learned absolute positions added at the input (DiT)

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden // self.heads


@dataclass(frozen=True)
class ProjectorShape:
    """MLP from concatenated vision features to the decoder width.

    ``depth`` linear layers: in_dim -> hidden -> ... -> out_dim (GELU between).
    """

    in_dim: int
    hidden: int
    out_dim: int
    depth: int = 2
    # --- added by agents/ ---
    hidden_widths: tuple[
        int, ...
    ] = ()  # explicit widths between in and out (overrides hidden/depth)

    @property
    def dims(self) -> tuple[int, ...]:
        """Widths of the linear chain, input first: (in, ..., out); len = linears + 1."""
        if self.hidden_widths:
            return (self.in_dim, *self.hidden_widths, self.out_dim)
        if self.depth <= 1:
            return (self.in_dim, self.out_dim)
        return (self.in_dim, *([self.hidden] * (self.depth - 1)), self.out_dim)


@dataclass(frozen=True)
class ActionHeadShape:
    """How actions leave the model.

    kind:
      - ``ar_tokens``: ``action_dim`` tokens decoded one by one through the LLM.
      - ``l1_chunk``: one parallel pass over ``chunk * action_dim`` placeholder tokens,
        then a linear/MLP regression head.
      - ``flow_expert``: ``expert`` decoder attending to the prefix KV; ``steps`` Euler steps.
      - ``dit``: ``expert`` transformer (DiT) conditioned on a cognition feature;
        ``steps`` denoising steps.
    """

    kind: Literal["ar_tokens", "l1_chunk", "flow_expert", "dit"]
    action_dim: int = 7
    chunk: int = 1
    bins: int = 256
    steps: int = 1
    expert: DecoderShape | None = None
    # --- added by agents/ ---
    mlp_hidden: int = 0  # l1_chunk: MLPResNet width (OFT: 4096); 0 -> a single Linear
    mlp_blocks: int = 2  # l1_chunk: residual blocks of the MLPResNet
    train_steps: int = 100  # dit: DDPM training timesteps (DDIM subsamples ``steps`` of them)


@dataclass(frozen=True)
class VLAShape:
    """A whole VLA: towers, projector, LLM, action head, and the input it sees."""

    name: str
    family: Family
    vision: tuple[ViTShape, ...]
    projector: ProjectorShape
    llm: DecoderShape
    head: ActionHeadShape
    prompt_tokens: int = 32  # language tokens of a typical instruction
    cameras: int = 1
    published_params: int | None = None  # total parameter count as published
    published_source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # --- added by agents/ ---
    proprio_dim: int = (
        0  # 0: no proprio input; else one token (prefix, or pi0's suffix state token)
    )

    @property
    def vision_tokens(self) -> int:
        # Fused towers (DINOv2 + SigLIP) see the same patches and concatenate channels.
        return self.vision[0].tokens_out * self.cameras

    @property
    def family_spec(self) -> FamilySpec:
        """The family's registry entry (``agents.families``): the owner of the facts below."""
        return family_spec(self.family)

    @property
    def proprio_in_prefix(self) -> bool:
        """Proprio is one prefix token, unless the family's head reads it (pi0's state token)."""
        return self.proprio_dim > 0 and self.family_spec.proprio_in_prefix

    @property
    def noise_input(self) -> bool:
        """The model starts from noise: model input ``noise`` [B, chunk, action_dim]."""
        return self.family_spec.noise_input

    @property
    def extra_llm_tokens(self) -> int:
        """LLM tokens after the prefix (oft: chunk*action_dim placeholders; cogact: 1)."""
        return int(self.family_spec.extra_tokens(self))

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the VLM prefix: [vision (cam-major), proprio?, prompt]."""
        return self.prefix_tokens_for(self.prompt_tokens)

    def prefix_tokens_for(self, prompt_tokens: int) -> int:
        """``prefix_tokens`` with a prompt of ``prompt_tokens`` tokens."""
        return self.vision_tokens + int(self.proprio_in_prefix) + int(prompt_tokens)

    @property
    def llm_tokens(self) -> int:
        """Sequence length of the LLM prefill pass: the prefix + the family's extra tokens."""
        return self.llm_tokens_for(self.prompt_tokens)

    def llm_tokens_for(self, prompt_tokens: int) -> int:
        """``llm_tokens`` with a prompt of ``prompt_tokens`` tokens (the trace's override)."""
        return self.prefix_tokens_for(prompt_tokens) + self.extra_llm_tokens

    @property
    def decode_tokens(self) -> int:
        """Action tokens generated autoregressively (openvla only; 0 otherwise)."""
        return self.head.chunk * self.head.action_dim if self.head.kind == "ar_tokens" else 0

    @property
    def expert_tokens(self) -> int:
        """Tokens the expert processes per step: pi0 [state?, chunk]; cogact [time, cond, chunk]."""
        if self.head.kind == "flow_expert":
            return self.head.chunk + int(self.proprio_dim > 0)
        if self.head.kind == "dit":
            return self.head.chunk + 2
        return 0


# Named shapes: the built-ins are added by ``agents.zoo``, a new family's module adds its own
# (``register_shape``); ``agents.zoo.get_shape`` / ``list_shapes`` read this table.
SHAPES: dict[str, VLAShape] = {}


def register_shape(shape: VLAShape, *, replace: bool = False) -> VLAShape:
    """Make ``shape`` known by its name (``agents.zoo.get_shape``, ``policy.shape=<name>``)."""
    old = SHAPES.get(shape.name)
    if old is not None and old != shape and not replace:
        raise ShapeConfigError(
            f"shape name {shape.name!r} is already registered; pass replace=True to override it"
        )
    family_spec(shape.family)  # an unregistered family fails here, not at first use
    SHAPES[shape.name] = shape
    return shape


def unregister_shape(name: str) -> VLAShape:
    """Remove a registered shape (a test's temporary plug-in)."""
    return SHAPES.pop(name)
