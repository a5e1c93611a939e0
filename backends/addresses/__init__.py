"""Digital addresses: hamlets (polygons in data/commune.yml) and address codes."""
