"""A project-owned Hydra launcher that runs sweep jobs as Ray tasks (hydra/launcher=ray).

hydra-ray-launcher 1.2.2 caps cloudpickle<3 and cannot sit beside hydra-joblib-launcher (joblib
needs cloudpickle>=3); this launcher needs only the ``ray`` package (the ``ray`` extra).
"""
