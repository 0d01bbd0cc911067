"""Generators: the real (Pauli-basis) Lindblad generator that each model produces. Imports models only."""
