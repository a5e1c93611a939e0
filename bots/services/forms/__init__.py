"""The form engine's conversation (bots/dialogue/forms.py): every service that asks questions field by
field (dossiers, consults) opens a form; this unit owns its state and strings.

Its declaration is `unit.service(kit)`."""
