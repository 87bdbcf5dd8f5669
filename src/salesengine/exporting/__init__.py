"""Event history out of the engine: XES for process mining, CSV and Parquet for BI."""
