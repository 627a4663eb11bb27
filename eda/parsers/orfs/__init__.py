"""Parsers of OpenROAD-flow-scripts outputs: metrics JSON, reports, units."""
