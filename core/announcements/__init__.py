"""The commune's announcements: its news (Actualités) and its important message."""
