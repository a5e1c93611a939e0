"""The staff operations dashboard at /dashboard: login by one-time chat link, figures from each
service's provider, the hamlet map, dead letters and the audit log (docs/staff.md)."""
