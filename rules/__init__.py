"""Data folder shipped inside the sitegate package; see gateway/paths.py."""
