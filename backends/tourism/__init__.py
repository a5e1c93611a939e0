"""Tourism and heritage: places to visit, itineraries and homestays (data/tourism/)."""
