"""Health: emergency alerts and doctor consults. Every health text is encrypted at rest."""
