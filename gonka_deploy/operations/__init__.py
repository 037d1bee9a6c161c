"""Operations: yield commands only when the host differs from the wanted state."""
