"""Data folders shipped with the package (mapped from the repository top level)."""
