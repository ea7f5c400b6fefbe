"""Wire protocol between edge and cloud: authenticated tensor frames and a framed TCP transport."""

from ecc.wire.codec import DTYPES, PROTOCOL_VERSION, Codec, FrameLayout, Message, secret_from_env
from ecc.wire.compression import COMPRESSIONS, CompressionReport, compression_report
from ecc.wire.config import WireConfig

__all__ = [
    "COMPRESSIONS",
    "DTYPES",
    "PROTOCOL_VERSION",
    "Codec",
    "CompressionReport",
    "FrameLayout",
    "Message",
    "WireConfig",
    "compression_report",
    "secret_from_env",
]
