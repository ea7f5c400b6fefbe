"""VLA models: shapes, the model zoo, policies and training.

Entry points (imported from their modules to keep ``import agents.shapes`` light):

- ``agents.zoo``: ``get_shape``, ``list_shapes``, ``build_model``, ``count_params``
- ``agents.staged``: the ``StagedModel`` contract, ``run_all_stages``
- ``agents.boundary``: ``stage_boundaries``, ``placement_transfers``, ``example_inputs``
- ``agents.policy``: ``VLAPolicy``, ``save_checkpoint``, ``load_policy``
- ``agents.actor``: ``PolicyActor`` for the evaluation loop
- ``agents.training``: ``TrainConfig``, ``train`` (CLI: ``python -m experiments.train``)

See docs/agents.md.
"""
