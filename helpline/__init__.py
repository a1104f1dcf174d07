"""Helpline: privacy-first community helpline for sex workers."""

__version__ = "0.1.0"
