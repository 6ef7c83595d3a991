"""The sales analytics pipeline over the default liquor-sales source."""
