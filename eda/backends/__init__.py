"""Place-and-route backends (ORFS, qflow), each producing the characterization table's columns."""
