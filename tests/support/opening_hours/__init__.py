"""A tiny example service, registered from this one package, that docs/internals.md ("Adding a
service") walks through: the commune office's opening hours. Its strings are its data (i18n/)."""
