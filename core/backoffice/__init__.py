"""The agents' back office (`/<commune>/gestion/`): agents, sessions, roles, journal, API keys,
payment suspensions and import jobs. Controllers and templates build on these services."""
