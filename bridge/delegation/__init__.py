"""Partner login delegation: launch requests, single-use tickets, the bridge session, signed tokens,
and the Python helper partners call."""
