"""smal4v.segment."""
