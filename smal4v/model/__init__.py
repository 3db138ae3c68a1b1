"""smal4v.model."""
