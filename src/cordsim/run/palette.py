"""One colour per arm in every figure, notebook plot and web page of a run.

Lives in ``run`` (beside the scenario results it colours) so that ``ScenarioResult.plot``
and the figures of :mod:`cordsim.io.plotting` share it.
"""

from __future__ import annotations

from collections.abc import Iterable

CONTROL_COLOR = "#6b6b6b"  # the first arm (vehicle / control)
# Okabe & Ito (2008) colour-blind-safe palette, then Tol's muted colours for many arms.
ARM_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
               "#882255", "#117733", "#332288", "#AA4499", "#999933", "#44AA99")


def arm_colors(arms: Iterable[str]) -> dict[str, str]:
    """One colour per arm, by the arm's place in the scenario: the first arm (the vehicle or
    control every difference refers to) grey, the treated arms in :data:`ARM_PALETTE` order.
    Every multi-arm figure of a run uses this mapping, so an arm has one colour throughout.

    >>> arm_colors(["vehicle", "IV MSC"])
    {'vehicle': '#6b6b6b', 'IV MSC': '#0072B2'}
    """
    names = list(dict.fromkeys(arms))
    out = {}
    for i, name in enumerate(names):
        out[name] = CONTROL_COLOR if i == 0 else ARM_PALETTE[(i - 1) % len(ARM_PALETTE)]
    return out
