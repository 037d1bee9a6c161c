"""The sandbox's docker engine: `docker` and `docker compose` without a daemon.

Containers are processes in their own network namespace and private mount namespace on a host
bridge; see engine.py. The CLI (cli.py) is what /usr/local/bin/docker runs in sandbox hosts.
"""
