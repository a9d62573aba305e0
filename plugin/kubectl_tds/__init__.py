"""kubectl tds: the Trusted Data Space plugin for kubectl, light and separate from the operator."""

__version__ = "0.1.0"
