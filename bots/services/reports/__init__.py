"""Village reports: a villager reports a problem (what, where, a photo), staff assign and resolve it,
the villager confirms or reopens.

Its declaration is `unit.service(kit)`."""
