"""Local stand-ins for the outside services the portal talks to (demo and tests only).

Nothing here is mounted by the portal's production configuration.
"""
