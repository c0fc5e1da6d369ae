"""Trust in service providers: the registry built from SP metadata (folders, files, URLs) and the
rules for where a Response may be sent."""
