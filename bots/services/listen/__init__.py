"""The «🔊 Nghe» button under every long answer: the text read aloud (backends/loudspeaker/tts.py).

Its declaration is `unit.service(kit)`."""
