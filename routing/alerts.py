"""Safety alerts on and off (issue 18): ALERTS / MELDINGEN / ... subscribes,
the same word again or STOP unsubscribes.

The answer says exactly what the texter will get and how often at most
(`Policy.alerts_per_week`), because a subscription to warnings about violent
clients is itself sensitive: nobody should be surprised by what arrives on
their phone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from routing.model import Action, Policy, Reply, State, SubscribeAlerts, UnsubscribeAlerts


def toggle(
    state: State, policy: Policy, reply: Callable[[str, Iterable[tuple[str, str]]], Reply]
) -> list[Action]:
    if state.alerts:
        return [UnsubscribeAlerts(), reply("alerts_off", ())]
    return [SubscribeAlerts(), reply("alerts_on", [("per_week", str(policy.alerts_per_week))])]


def stop(state: State) -> list[Action]:
    """STOP ends alerts too (listed after Stop)."""
    return [UnsubscribeAlerts()] if state.alerts else []
