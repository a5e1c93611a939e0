"""The commune's figures for staff: /stats in chat and /dashboard, a one-time login link to the web
dashboard (bots/dashboard/).

Its declaration is `unit.service(kit)`."""
