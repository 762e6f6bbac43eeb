"""Users, roles, sessions, API tokens and the one place that scopes what a user may see."""
