"""Planned maintenance and inspections: schedules per asset kind or asset open planned tickets with
a checklist; results recorded per item resolve them; overdue work and expired equipment are counted.
See docs/maintenance.md for the `maintenance:` section of the site file."""
