"""The services, one package each; `bots/services/assembly.py` lists them in order."""
