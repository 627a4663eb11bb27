"""voltscale: characterize and size MAC units for voltage-scalable DNN accelerators.

The package is layered (docs/architecture.md; checked by import-linter, see pyproject.toml):
cli -> jobs -> outputs -> backends -> flow -> verify -> nn -> spice -> method -> designs -> parsers -> core.
"""

__version__ = "0.1.0"
