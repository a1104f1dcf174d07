"""The way out: the durable outbox and its worker, carrying out the policy's actions, the bot's
texts, delivery statuses.

Owns: opening conversations, queueing replies, retries and the 24 h window, applying statuses
that never go backwards.
Never imports: the console or the webhook routes; it reaches a platform only through a `Channel`
handed to the worker.
"""
