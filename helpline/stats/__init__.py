"""Statistics that cannot identify anyone: counted when things happen, small counts suppressed,
published for coordinators.

Owns: the identifier-free counts table, suppression, publishing, and the coordinator's routes
and page.
Never imports: `helpline.crypto` or channels: it needs no key because it holds no identifier.
"""
