"""What a reload changes: the inputs to add, stop and restart, and the sections it cannot apply.

Pure: two loaded ``AgentConfig`` in, a ``ReloadPlan`` out. An input is matched by its ``id``;
one whose settings differ in any way is restarted. Any other top-level section that differs
is only reported (``restart_required_for``): it takes effect at the next restart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from logflux_agent.config.model import AgentConfig, InputConfig

# Not sections a restart is needed for: the inputs are applied, ``source`` is where it came from.
_APPLIED = ("inputs", "source")


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    added: list[str]
    removed: list[str]
    changed: list[str]
    restart_required_for: list[str]
    new_inputs: dict[str, InputConfig]

    def applied(self, old: AgentConfig, new: AgentConfig) -> AgentConfig:
        """``old`` with ``new``'s inputs: what the agent runs after the reload."""
        return replace(old, inputs=new.inputs)


def plan_reload(old: AgentConfig, new: AgentConfig) -> ReloadPlan:
    old_inputs = {c.id: c for c in old.inputs}
    new_inputs = {c.id: c for c in new.inputs}
    sections = [f.name for f in fields(AgentConfig) if f.name not in _APPLIED]
    return ReloadPlan(
        added=[i for i in new_inputs if i not in old_inputs],
        removed=[i for i in old_inputs if i not in new_inputs],
        changed=[i for i in old_inputs if i in new_inputs and old_inputs[i] != new_inputs[i]],
        restart_required_for=[n for n in sections if getattr(old, n) != getattr(new, n)],
        new_inputs=new_inputs,
    )
