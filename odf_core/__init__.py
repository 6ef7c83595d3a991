"""Plain library code under every other ODF layer: text quoting and redaction, the egress policy,
pinned HTTP connections and crash-leftover sweeps. No Dagster, and no imports of other ODF packages."""
