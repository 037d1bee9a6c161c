"""Sandbox tooling: test hosts (bench), simulators (gonkasim), the fake gonka repo (gonkarepo)."""
