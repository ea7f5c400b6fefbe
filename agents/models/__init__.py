"""The VLA families, each a ``StagedModel`` (see ``agents.staged``).

Importing this package (``agents.zoo`` does) loads every family module listed below. The built-in
families are described in ``agents.families`` (their classes by dotted path); a new family's
module registers itself there (``register_family``) and its shapes (``register_shape``), and is
listed here: see docs/extending.md.
"""

from agents.models import cogact, oft, openvla, pi0  # noqa: F401  (family modules)
