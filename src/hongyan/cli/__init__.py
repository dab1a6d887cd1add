"""The ``hongyan`` command line (Typer)."""
