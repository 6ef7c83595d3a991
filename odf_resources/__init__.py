"""ODF's resources and IO managers: storage, the Parquet IO manager and the source fetcher."""
