"""One ``@deploy`` per phase of deploys/node.py; roles call operations only."""
