"""Assembly: the gateway, the feature registry, CLI, runner, replay, demo, simulator."""
