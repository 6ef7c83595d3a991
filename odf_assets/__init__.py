"""ODF's software-defined assets: sources, aggregates, the sales pipeline and analysis results.

Kept import-free so the pure ``transforms`` modules can be used without loading Dagster.
"""
