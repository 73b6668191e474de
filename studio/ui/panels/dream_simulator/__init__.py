"""The Dream Simulator (its models and views come with the dream simulator's issue)."""
