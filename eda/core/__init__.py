"""The core every layer stands on: errors, files, the tool runner, steps, platforms and liberty preparation."""
