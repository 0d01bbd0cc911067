"""Models: what the user describes (parameters, Hamiltonians, baths). The bottom layer: imports no other layer."""
