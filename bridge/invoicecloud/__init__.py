"""Everything that speaks Invoice Cloud's language: the SAML redirect link and its IDs (``links``), and
the clients, adapters and parsers for IC's web services (Cloud Payments V2, Remote Authentication)."""
