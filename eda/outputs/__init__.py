"""Writing results: CSV, markdown, HTML and figures, from data computed elsewhere."""
