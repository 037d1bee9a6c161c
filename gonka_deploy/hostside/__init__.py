"""Programs that run on a host (stdlib only), sent inline: ``python3 -c SCRIPT ...``."""

from pathlib import Path


def script(name: str) -> str:
    """The source of hostside/<name>.py, as sent to a host."""
    return (Path(__file__).parent / f"{name}.py").read_text()
