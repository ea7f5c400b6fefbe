"""vecc-tool: data and checkpoint tools as one Hydra app (``tool=<option>``; options in conf/tool/).

    python -m experiments.tool                      # lists the options
    python -m experiments.tool tool=<option> [budget=quick] [field=value ...]

The pattern (kinds, budgets, presets, entries): experiments/apps.py.
"""

from experiments.apps import make_main

main = make_main("tool")

if __name__ == "__main__":
    main()
