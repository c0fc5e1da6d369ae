"""SAML identity bridge: a partner-side SAML 2.0 IdP that signs portal payers in to Invoice Cloud."""

__version__ = "0.1.0"
