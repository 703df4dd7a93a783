"""Any program as an agent: an argv template filled in per task.

The simplest adapter, and a guide to writing one. ``agent.command`` in isollm.yaml is
a list such as ``[my-agent, --task, "{task_id}", --message, "{prompt}"]``; each element
may hold the placeholders ``{prompt}``, ``{task_id}``, ``{title}``, ``{workdir}`` and
``{model}``, which are replaced inside that one element. The result is an argv list
that is executed directly, never through a shell, so task text can never become code.
The task is also in the environment (``ISOLLM_TASK_ID``, ``ISOLLM_TASK_TITLE``,
``ISOLLM_PROMPT``). Success is exit code 0; the summary is the last line printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from isollm.agents.base import AgentOutcome, Invocation
from isollm.agents.common import CliAgent, by_exit_code
from isollm.agents.promptfile import argv_prompt
from isollm.config.model import COMMAND_PLACEHOLDERS
from isollm.errors import AgentError

_PLACEHOLDER = re.compile(r"\{(" + "|".join(COMMAND_PLACEHOLDERS) + r")\}")


def fill(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Each element of ``template`` with the known placeholders replaced; others kept."""
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), element) for element in template]


class CommandAgent(CliAgent):
    name = "command"
    instruction_file = "AGENTS.md"
    install_hint = "set agent.command in isollm.yaml to the program's argv"

    @property
    def binary(self) -> str:
        return self.settings.binary or (self.settings.command[0] if self.settings.command else "")

    def _template(self) -> list[str]:
        if not self.settings.command:
            raise AgentError(
                "agent 'command' has no command to run",
                hint='set agent.command in isollm.yaml, e.g. [my-agent, --message, "{prompt}"]',
            )
        return [self.binary, *self.settings.command[1:]]

    def headless_argv(self, inv: Invocation) -> list[str]:
        values = {
            "prompt": argv_prompt(inv),
            "prompt_file": str(inv.prompt_file or ""),
            "task_id": inv.task_id,
            "title": inv.title,
            "workdir": str(inv.workdir),
            "model": self.model(inv.model),
        }
        return [*fill(self._template(), values), *self.args(inv.extra_args)]

    def interactive_argv(
        self,
        prompt: str = "",
        *,
        model: str = "",
        extra_args: Sequence[str] = (),
        auto_approve: bool = False,
        resume: bool | str = False,
    ) -> list[str]:
        values = {"prompt": prompt, "model": self.model(model)}
        return [*fill(self._template(), values), *self.args(extra_args)]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        return {
            "ISOLLM_TASK_ID": inv.task_id,
            "ISOLLM_TASK_TITLE": inv.title,
            "ISOLLM_PROMPT": argv_prompt(inv),  # the environment has the same limits
            "ISOLLM_PROMPT_FILE": str(inv.prompt_file or ""),
        }

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        return by_exit_code(exit_code, output)
