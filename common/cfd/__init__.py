"""The CFD lab's shared code: lattice-Boltzmann solver, obstacles, flow data sets, surrogates."""
