"""Facts: read host state; one module per domain, beside operations/<domain>.py."""
