"""One-stop dossiers ("một cửa điện tử"): the procedure catalogue, working-day arithmetic and the
dossier store. Nothing here knows which chat app a request came from."""
