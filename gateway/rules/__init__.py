"""Rules: plain-data rule files turned into firing / cleared AlertEvents by a pure engine."""

from gateway.rules.engine import RuleEngine, SiteContext
from gateway.rules.loader import check_rules, load_rules
from gateway.rules.schema import Rule

__all__ = ["Rule", "RuleEngine", "SiteContext", "check_rules", "load_rules"]
