"""Pure builders: spec -> the child objects it must have. No I/O."""
