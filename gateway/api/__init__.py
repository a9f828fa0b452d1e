"""HTTP API and dashboard (FastAPI)."""
