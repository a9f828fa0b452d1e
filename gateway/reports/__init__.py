"""Monthly reports a property manager signs: ticket timeliness per stage, revisits, satisfaction,
rework, planned maintenance, patrol coverage, zones ranked and the complaint review list."""
