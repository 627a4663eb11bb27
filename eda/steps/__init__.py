"""Flow steps. Each declares what it reads and writes; `base.run_step` gives it a folder."""
