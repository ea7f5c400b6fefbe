"""vecc-study: studies (one-off analyses) as one Hydra app (``study=<option>``; options in conf/study/).

    python -m experiments.study                      # lists the options
    python -m experiments.study study=<option> [budget=quick] [field=value ...]

The pattern (kinds, budgets, presets, entries): experiments/apps.py.
"""

from experiments.apps import make_main

main = make_main("study")

if __name__ == "__main__":
    main()
