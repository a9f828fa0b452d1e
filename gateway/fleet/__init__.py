"""Head office: the sites' events stored once, the fleet's current state, its API and reports (issue 15)."""
