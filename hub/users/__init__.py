"""Users, roles, browser sessions, API tokens and the authorisation every hub route goes through."""
