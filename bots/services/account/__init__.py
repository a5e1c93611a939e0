"""The citizen's own account: roles by invite (/invite, /join, /revoke), consent, phone number, and
/mydata (see, export, withdraw, delete).

Its declaration is `unit.service(kit)`."""
