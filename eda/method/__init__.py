"""The paper's method as computation: numpy/pandas only, no tool runs and no files written."""
