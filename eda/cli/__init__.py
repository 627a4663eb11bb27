"""The `eda` command line: one module per command group; nothing imports it."""
