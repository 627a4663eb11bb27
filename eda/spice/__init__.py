"""SPICE characterization with ngspice: the FO4 inverter Monte Carlo (DESIGN.md section 4).

Kept apart on purpose: `models` finds the SkyWater device models and cell netlists,
`fo4_deck` writes decks (pure text), `fo4_parse` reads ngspice logs (pure text),
`fo4_run` runs ngspice and assembles the tables. `eda.fo4` is the public face.
"""
