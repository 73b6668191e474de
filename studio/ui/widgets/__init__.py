"""Widgets the panels share."""
