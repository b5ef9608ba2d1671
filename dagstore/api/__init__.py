"""The Python API: the ClearML-compatible ``Dataset`` facade and the operation modules it delegates to."""
