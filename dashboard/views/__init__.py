"""Tables and figures for the dashboard's pages, one module per page, from store records.

No Streamlit here: every function is tested without a browser."""

from dashboard.views._analysis import (
    ANALYSIS_SAMPLE,
    analysis_sample,
    history_figure,
    importance_figure,
    parallel_figure,
    pareto_figure,
    pareto_front,
)
from dashboard.views._champion import (
    confusion_figure,
    per_class_frame,
)
from dashboard.views._common import (
    MAX_POINTS,
    STATE_COLOURS,
    param_cell,
)
from dashboard.views._compare import (
    METRICS,
    X_AXES,
    curves_figure,
    differing_rows,
    epochs_frame,
    params_comparison,
)
from dashboard.views._monitoring import (
    JS_ALARM,
    LOW_CONFIDENCE,
    MIN_DRIFT_SAMPLE,
    PSI_ALARM,
    Drift,
    Monitoring,
    js_distance,
    monitoring,
    psi,
    shares_figure,
    traffic_figure,
)
from dashboard.views._studies import (
    studies_frame,
)
from dashboard.views._trials import (
    BEST_FIRST,
    PHASES,
    SORTS,
    STATES,
    merge_selection,
    param_columns,
    trial_filter,
    trial_numbers,
    trials_frame,
)

__all__ = [
    "ANALYSIS_SAMPLE",
    "BEST_FIRST",
    "JS_ALARM",
    "LOW_CONFIDENCE",
    "MAX_POINTS",
    "METRICS",
    "MIN_DRIFT_SAMPLE",
    "PHASES",
    "PSI_ALARM",
    "SORTS",
    "STATES",
    "STATE_COLOURS",
    "X_AXES",
    "Drift",
    "Monitoring",
    "analysis_sample",
    "confusion_figure",
    "curves_figure",
    "differing_rows",
    "epochs_frame",
    "history_figure",
    "importance_figure",
    "js_distance",
    "merge_selection",
    "monitoring",
    "parallel_figure",
    "param_cell",
    "param_columns",
    "params_comparison",
    "pareto_figure",
    "pareto_front",
    "per_class_frame",
    "psi",
    "shares_figure",
    "studies_frame",
    "traffic_figure",
    "trial_filter",
    "trial_numbers",
    "trials_frame",
]
