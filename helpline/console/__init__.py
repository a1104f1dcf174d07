"""The volunteer and partner console: sign-in, sessions, roles, CSRF, routes."""
