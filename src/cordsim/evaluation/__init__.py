"""Checking the model against the literature: claims, the review's experiments, validation."""
