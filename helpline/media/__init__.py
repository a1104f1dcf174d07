"""Media from texters and attached to replies: photos, voice notes, videos,
stickers and documents.

`fetch` downloads after the webhook is answered (through the channel adapters),
`sniff` reads the real type and caps each kind, `cleaning` strips what a file
says about its maker, `store` seals it under the texter's data key (row or blob
file), `views` and `routes` show it in the console, `attachments` takes a
volunteer's photo or PDF for a reply. Media never reaches a channel adapter's
platform call except through these modules and the outbox.
"""
