"""The Grafana dashboards in dashboards/*.json, built with grafana-foundation-sdk's typed builders.

`python -m scripts.dashboards` (or `make dashboards`) writes them; `--check` only compares.
This is a development tool: the gateway never imports it, so the runtime does not need the SDK.
"""
