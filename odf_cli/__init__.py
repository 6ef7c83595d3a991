"""The ``odf`` command: run the pipeline locally, query results, trigger a running Dagster."""
