# xmlsec's bundled stubs lack constants the bridge uses (KeyFormat, Transform.AES256_GCM, KeyData.X509, ...):
# mypy reads this file instead and treats the C extension as untyped.
from typing import Any

def __getattr__(name: str) -> Any: ...
