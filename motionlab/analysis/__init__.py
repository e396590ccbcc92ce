"""Analysis: metrics, plots and result tables (filled by the evaluation work)."""
