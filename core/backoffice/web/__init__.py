"""The agents' back office as pages: its access checks, layout and controllers."""
