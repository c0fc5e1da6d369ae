"""The HTTP layer: thin Starlette routes that call one bridge function each; one place maps errors to HTTP."""
