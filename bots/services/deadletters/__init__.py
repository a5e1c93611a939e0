"""Messages the outbox gave up on, for the administrator: /deadletters lists them, a button replays.

Its declaration is `unit.service(kit)`."""
