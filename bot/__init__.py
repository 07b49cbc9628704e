"""Patchwell's GitHub side: webhook server, App auth, job queue, PR engine, commands."""
