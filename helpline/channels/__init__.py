"""One adapter per platform (WhatsApp Cloud API, signal-cli-rest-api, the simulator), all behind
`base.Channel`.

Owns: verifying, parsing platform bytes into neutral events, and turning neutral outbound
messages into platform requests.
Never imports: the store (`helpline.store`), the policy (`routing`) or the console: adapters
translate, they decide nothing.
"""
