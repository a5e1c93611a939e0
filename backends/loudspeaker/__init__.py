"""The commune's loudspeaker system: text to speech, announcements and the signed speaker feed."""
