"""The policy a plan asked without one plans: that of the caller's deals, when they all
follow one, as ``salesengine plan`` takes the store's one policy. Chosen among the deals
in the caller's scope only, so that neither the choice nor its refusal tells of others."""

from __future__ import annotations

from salesengine.access.principal import Principal
from salesengine.access.scope_sql import scoped_policies
from salesengine.service.answers import read_models
from salesengine.service.context import ServiceContext
from salesengine.service.params import invalid


def planned_policy(ctx: ServiceContext, who: Principal, given: str | None) -> str:
    """``given`` if it names a policy; else the one policy of the caller's deals (a 422
    naming ``query.policy`` when they follow none or several)."""
    if given is not None:
        if given not in ctx.policies:
            known = ", ".join(sorted(ctx.policies))
            raise invalid("policy", f"no policy {given!r} (one of {known})")
        return given
    with read_models(ctx) as conn:
        held = sorted(str(p) for p in conn.execute(scoped_policies(who.scope)).scalars())
    if not held:
        raise invalid("policy", "there are no deals of yours to plan from: name the policy")
    if len(held) > 1:
        raise invalid("policy", f"your deals follow several policies ({', '.join(held)}): "
                      "name one")  # fmt: skip
    return held[0]
