"""Collaboration: notebook chats shared by its collaborators, AI edits through the shared document.

With jupyter-collaboration installed, a notebook open in JupyterLab is one Y
document on the server (jupyter_server_ydoc): NEXUS's server-side edits go into
that document, so every collaborator sees them live and nothing typed meanwhile
is lost. Without it, everything still works for one user: edits go to the file
through the contents manager.
"""
