"""The Piano Roll (its models and editor come with the piano roll's issue)."""
