"""The float64 network, its error model, and the inputs at the points the checks visit."""
