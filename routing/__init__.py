"""The conversation policy, pure: state, event, clock and policy in; actions out.

Imports nothing outside the standard library and never reads the clock. See
`routing.policy.decide`.
"""

from routing.model import Action, Event, Policy, State
from routing.policy import decide

__all__ = ["Action", "Event", "Policy", "State", "decide"]
