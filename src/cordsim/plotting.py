"""cordsim's figures, for notebooks and scripts.

Every function builds a matplotlib ``Figure`` with the object API, never ``pyplot``:
importing this module (or ``cordsim``) leaves your matplotlib backend and settings as they
are, and nothing is drawn until you ask. In Jupyter a returned ``Figure`` shows inline as
the cell's value.

``*_figure`` functions return the Figure; ``plot_*`` functions write it to a file (PNG, SVG
or PDF, ``formats=``) and return the path. An arm has the same colour in every figure
(:func:`arm_colors`: the first arm, the vehicle, in grey); dose times are marked on the
time axis; published observations of the same injury are drawn with their spread and
source.

Examples
--------
>>> import cordsim
>>> from cordsim.plotting import arm_colors, comparison_figure
>>> list(arm_colors(["vehicle", "IV MSC"]).values())
['#6b6b6b', '#0072B2']
"""

from cordsim.io.plotting import (
    COLUMN_WIDTH,
    FORMATS,
    comparison_figure,
    dose_times,
    ensemble_figure,
    figure_formats,
    literature_points,
    natural_history_figure,
    outcomes_figure,
    plot_calibration,
    plot_comparison,
    plot_dose_response,
    plot_effects_over_time,
    plot_ensemble,
    plot_graft_survival,
    plot_identifiability,
    plot_natural_history,
    plot_outcomes,
    plot_pareto,
    plot_scan,
    plot_sensitivity,
    save_figure,
    write_run_figures,
)
from cordsim.run.palette import ARM_PALETTE, CONTROL_COLOR, arm_colors

__all__ = [
    "ARM_PALETTE", "COLUMN_WIDTH", "CONTROL_COLOR", "FORMATS", "arm_colors",
    "comparison_figure", "dose_times", "ensemble_figure", "figure_formats",
    "literature_points", "natural_history_figure", "outcomes_figure", "plot_calibration",
    "plot_comparison", "plot_dose_response", "plot_effects_over_time", "plot_ensemble",
    "plot_graft_survival", "plot_identifiability", "plot_natural_history", "plot_outcomes",
    "plot_pareto", "plot_scan", "plot_sensitivity", "save_figure", "write_run_figures",
]
