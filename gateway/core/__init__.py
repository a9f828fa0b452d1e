"""The base layer: data model, clock, errors, validation, events. Imports nothing above it."""
