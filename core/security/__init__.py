"""Secrets stored hashed, and rate limits: shared by accounts, alert addresses and payments."""
