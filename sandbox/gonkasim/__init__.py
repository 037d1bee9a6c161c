"""gonkasim: stdlib simulators of a Gonka host's services, the seed network and a HF endpoint.

Run one role with `python3 -m gonkasim <role> ...` (see `gonkasim.__main__`).
"""
