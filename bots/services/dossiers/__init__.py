"""One-stop dossiers ("một cửa điện tử"): the villager picks a procedure, fills its form, sends papers,
gets a tracking code and follows it; staff review, request more, approve (a signed result) or reject;
the villager answers requests and rates the service.

Its declaration is `unit.service(kit)`."""
