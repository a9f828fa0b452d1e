"""Device profiles as data and the decoder that applies them (pure: bytes in, readings out)."""
