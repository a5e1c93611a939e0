"""Announcements of the commune loudspeaker system: staff write and schedule them (/announce),
villagers subscribe by topic and hear the latest; the scheduler publishes what is due.

Its declaration is `unit.service(kit)`."""
