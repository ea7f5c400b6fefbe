"""The planner registry: every ``Planner`` subclass with a ``name`` is added on definition.

The one registration path: define the subclass (registered here by name) and give it a
``conf/partition/<name>.yaml`` whose ``planner._target_`` is the class; ``make_planner(name)``
and the Hydra config reach the same class, and ``tests/ecc/test_contracts.py`` runs
``check_planner`` on every yaml and requires a yaml for every built-in planner.
"""

from __future__ import annotations

from core.registry import Registry

# Planner subclasses by name (``type``: this module sits below ecc.planners.base, which fills it).
PLANNERS: Registry[type] = Registry("planner", "partition.planner")
