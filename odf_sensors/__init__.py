"""ODF's schedules and sensors."""
