"""Media from texters (and attached to replies): fetch, sniff, clean, seal, serve."""
