"""Benchmarks that print figures: API calls, wall time, tracker latency and cold start."""
