"""Cookie sealing, JWK handling and thumbprints; imports nothing of the project."""
