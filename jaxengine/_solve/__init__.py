"""Solvers: steady states, time evolution, counting statistics, and how programs are compiled and run.

Imports generators, models and `_linalg`; never observables or applications."""
