"""pydantic models of the three kinds: the single source of truth for crds/."""
