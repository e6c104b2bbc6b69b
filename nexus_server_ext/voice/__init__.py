"""Voice: speech to text (faster-whisper) and spoken commands mapped onto the command registry."""
