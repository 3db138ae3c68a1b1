"""smal4v.nets."""
