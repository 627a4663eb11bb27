"""RTL simulation with iverilog, compared bit for bit with numpy models."""
