"""Village reports (phản ánh hiện trường): problems villagers report, staff assign and resolve."""
