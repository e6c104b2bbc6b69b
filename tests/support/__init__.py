"""Helpers the tests share: identities and authorizers (test servers in subprocesses import them too)."""
