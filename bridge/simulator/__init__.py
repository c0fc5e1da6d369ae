"""The built-in Invoice Cloud stand-in: an SP served by the bridge itself, for development and tests.

It behaves like IC's SSO entry: ``/simulator/saml/<BillerGUID>?account=..&ViewMode=..&DeepLinkID=..``
sends a signed AuthnRequest (HTTP-Redirect, RSA-SHA256) to the bridge, and ``/simulator/acs``
validates the Response strictly with python3-saml, then shows the claims, the deep-link page and
the view mode, or exactly what was wrong. ``sp`` owns its key, settings and metadata; ``routes``
its pages. It exists only when ``simulator.enabled`` is true (never in production).
"""
