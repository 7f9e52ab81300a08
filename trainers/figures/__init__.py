"""Figures drawn from a run directory alone (matplotlib, no display needed)."""
