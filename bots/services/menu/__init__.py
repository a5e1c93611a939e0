"""The social turns (hello, thanks, goodbye), /start, /help, /cancel, /lang, the main menu's buttons,
and the answers when nothing else applies. Last in the assembly: it only fills in what is left.

Its declaration is `unit.service(kit)`."""
