"""The analysis-service pair: daily category summary and descriptive statistics."""
