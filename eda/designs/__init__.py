"""RTL from the Jinja templates in rtl/: MAC kinds, arrays, tiles, and user designs."""
