"""Sitegate: an edge gateway for property operations (patrols, lighting, fire equipment)."""

__version__ = "0.1.0"
