"""faultlab's server processes: a shared runtime plus one package per service."""
