"""The embedded flow: Yosys synthesis, OpenSTA timing and power, gate-level simulation, as steps."""
