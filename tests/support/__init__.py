"""Real servers on loopback for the tests: S3-compatible (moto), HTTP sources, helpers."""
