"""The volunteer and partner console: sign-in, sessions, roles, CSRF, the conversation API and HTML
pages.

Owns: who may see and do what (the role x route matrix), the audit log, accounts.
Never imports: channels: a reply goes into the outbox, and the worker sends it.
"""
