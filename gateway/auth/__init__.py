"""Token authentication: extraction, the single verifier, and the key sources it uses."""
