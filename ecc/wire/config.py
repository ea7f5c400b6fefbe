"""Wire settings a researcher may change, and builders for the codec and transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecc.wire.codec import SECRET_ENV, Codec, secret_from_env
from ecc.wire.errors import WireConfigError
from ecc.wire.transport import TransportConfig


@dataclass(frozen=True)
class WireConfig:
    """Codec and transport settings (sizes in bytes, times in s).

    The shared secret is never stored in a config file: it is read from the
    environment variable named by ``secret_env`` on both edge and cloud.
    """

    secret_env: str = SECRET_ENV
    compression: str = "none"  # boundary-state compression: none | fp16 | int8
    min_compress_elems: int = 256
    max_frame_bytes: int = 64 * 2**20
    max_header_bytes: int = 2**20
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.05
    backoff_max_s: float = 2.0

    @classmethod
    def from_mapping(cls, cfg: Any) -> WireConfig:
        """Build from a dict or OmegaConf node; unknown keys raise, naming them."""
        data = dict(cfg.items()) if hasattr(cfg, "items") else dict(cfg)
        data.pop("_target_", None)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise WireConfigError(
                f"wire config keys {unknown} are unknown; allowed: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)

    def codec(self, secret: bytes | None = None) -> Codec:
        """A codec with this config (secret from the environment unless given)."""
        return Codec(
            secret if secret is not None else secret_from_env(self.secret_env),
            max_frame_bytes=self.max_frame_bytes,
            max_header_bytes=self.max_header_bytes,
            compression=self.compression,
            min_compress_elems=self.min_compress_elems,
        )

    def transport(self) -> TransportConfig:
        """Timeouts and retry policy for clients."""
        return TransportConfig(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            backoff_max_s=self.backoff_max_s,
        )
