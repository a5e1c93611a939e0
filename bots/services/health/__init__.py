"""Ask a doctor: emergencies (115 first, the station alerted), the consult queue answered by the
on-duty doctor, and appointments from the station's roster; late consults are escalated.

Its declaration is `unit.service(kit)`."""
