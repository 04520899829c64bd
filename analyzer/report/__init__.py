"""One report object, renderers per format, sanitizers per sink."""
