"""The web chat channel's own side: the page at /chat, its few JSON routes, the
visitor's session cookie, rate limits and the optional proof of work. The
adapter itself (parse and send) is helpline/channels/webchat.py; messages go
through the same inbox, intake, routing policy and outbox as every channel.
"""
