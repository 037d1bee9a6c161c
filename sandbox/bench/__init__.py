"""The sandbox bench: real SSH test hosts on this machine (see fleet.py)."""

from .fleet import Fleet, Host, gc

__all__ = ["Fleet", "Host", "gc"]
