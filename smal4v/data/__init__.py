"""smal4v.data."""
