"""Pure linear algebra on batched arrays (no physics): solvers, eigenvalue routines, bordered systems."""
