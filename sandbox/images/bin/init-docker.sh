#!/bin/sh
# The inferenced stand-in's ./init-docker.sh (the release runs `sh ./init-docker.sh` in /root):
# the chain node simulator.
exec python3 -m gonkasim node "$@"
