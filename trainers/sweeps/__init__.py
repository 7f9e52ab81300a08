"""Sweeps: grid -> members -> fits that can share an ensemble -> chunks sized to memory -> one run directory."""
