"""The four VLA families, each a ``StagedModel`` (see ``agents.staged``)."""
