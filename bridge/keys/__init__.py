"""Signing keys: the material (the only code that reads private keys), the ring of published and
signing keys as the store says, and the admin lifecycle (generate, stage, activate, retire, purge)."""
