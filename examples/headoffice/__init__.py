"""Data folder shipped inside the sitegate package; see gateway/core/paths.py."""
