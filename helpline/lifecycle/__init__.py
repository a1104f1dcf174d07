"""The data's lifecycle: retention, erasure, master-key rotation, the backup key store, backup and
restore.

Owns: deleting a texter for good (key first), re-wrapping keys, snapshots that are unreadable
without the master key.
Never imports: channels or the console's routes, except the admin erasure route that lives here
(`routes`).
"""
