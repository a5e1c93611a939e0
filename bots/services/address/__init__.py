"""Digital address codes: a shared location becomes a code and the hamlet it falls in.

Its declaration is `unit.service(kit)`."""
