"""The float64 reference for the two-layer ReLU network, and the checks built on it."""
