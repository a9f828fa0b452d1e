"""The HTTP face: FastAPI app, dashboard, static assets. Only this layer and */api.py import FastAPI."""
