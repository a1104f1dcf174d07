"""Live events for the console: kinds and ids, never bodies; in one process (`bus`) and across
processes (`postgres`, LISTEN/NOTIFY).

Owns: publishing and subscribing to events such as "message in conversation X".
Never imports: tables (`helpline.store.models`), channels or routes: an event carries no
content.
"""
