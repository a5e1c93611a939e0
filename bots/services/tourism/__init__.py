"""Tourism and heritage for visitors: places by theme or near them, audio guides, itineraries."""
