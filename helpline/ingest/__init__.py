"""The way in: webhook routes, the durable inbox, group commit, and intake (dedup, blind index,
encrypt, store, decide).

Owns: everything between a platform's POST and a stored, routed message in one transaction.
Never imports: the console (it tells the console through `helpline.live`), and never logs a
body, number or name.
"""
