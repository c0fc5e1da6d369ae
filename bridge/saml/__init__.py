"""SAML 2.0 protocol core: XML, bindings, requests, assertions, signatures, metadata.

Imports nothing from the web layer or the store.
"""
