"""Rate limits: GCRA per verified user or client address, in-process or shared through Redis."""
