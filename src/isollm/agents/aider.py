"""aider (``aider``, PyPI ``aider-chat``).

Headless: ``aider --yes-always --no-pretty ... --read AGENTS.md --message=PROMPT`` with
stdin closed. aider edits files and commits each change itself. It prints plain text:
``Tokens: 2.3k sent, 29 received. Cost: $0.01 message, $0.02 session.`` lines give
usage and cost, and API failures print a ``litellm`` error. Keys for any provider come
from the environment; a ``base_url`` is an OpenAI-compatible endpoint
(``OPENAI_API_BASE``). Its history files go to the agent's home, and ``.aider*``
(the repo-map cache) must stay out of commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from isollm.agents.base import AgentOutcome, Invocation
from isollm.agents.common import CliAgent, clip, exit_summary, flag, last_line

QUIET_FLAGS = (
    "--no-check-update",
    "--no-analytics",
    "--no-show-model-warnings",
    "--no-pretty",
    "--no-fancy-input",
    "--no-gitignore",
)

_TOKENS = re.compile(r"^Tokens: ([\d.,]+k?) sent,(?:.*?,)? ([\d.,]+k?) received\.", re.MULTILINE)
_SESSION_COST = re.compile(r"Cost: \$[\d.,]+ message, \$([\d.,]+) session\.")
# Lines aider prints when the model call failed; the exit code can still be 0.
_FAILURE = re.compile(
    r"^(litellm\.\w+Error|The API provider|Model \S+ is not supported|Unable to find|"
    r"No LLM model was specified)",
    re.MULTILINE,
)


def parse_count(text: str) -> int:
    """``2.3k`` -> 2300, ``1,024`` -> 1024."""
    text = text.replace(",", "")
    if text.endswith("k"):
        return round(float(text[:-1]) * 1000)
    return round(float(text))


class AiderAgent(CliAgent):
    name = "aider"
    default_binary = "aider"
    install_hint = "pipx install aider-chat (or: pip install aider-chat)"
    workdir_ignores: tuple[str, ...] = (".aider*",)
    approve_flags: tuple[str, ...] = ("--yes-always",)
    secret_keys = (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "GROQ_API_KEY",
        "MISTRAL_API_KEY",
        "XAI_API_KEY",
        "COHERE_API_KEY",
        "AZURE_API_KEY",
    )
    passthrough = ("OPENAI_API_BASE", "AZURE_API_BASE", "AZURE_API_VERSION", "OLLAMA_API_BASE")

    def args(self, extra: Sequence[str] = ()) -> list[str]:
        return [*QUIET_FLAGS, "--read", self.instruction_file, *super().args(extra)]

    def first_prompt(self, prompt: str) -> list[str]:
        """aider takes no first prompt interactively; its instruction file is in the chat."""
        return []

    def headless_argv(self, inv: Invocation) -> list[str]:
        history: list[str] = []
        if inv.home:
            history = [
                "--chat-history-file",
                str(inv.home / ".aider.chat.history.md"),
                "--input-history-file",
                str(inv.home / ".aider.input.history"),
            ]
        return [
            self.binary,
            *flag("--model", self.model(inv.model)),
            *self.args(inv.extra_args),
            *self.approve_flags,
            *history,
            f"--message-file={inv.prompt_file}" if inv.prompt_file else f"--message={inv.prompt}",
        ]

    def fixed_env(self, inv: Invocation) -> dict[str, str]:
        return {"OPENAI_API_BASE": self.settings.base_url} if self.settings.base_url else {}

    def parse_result(self, exit_code: int, output: str) -> AgentOutcome:
        counts = [(parse_count(a), parse_count(b)) for a, b in _TOKENS.findall(output)]
        costs = _SESSION_COST.findall(output)
        failure = _FAILURE.search(output)
        if failure is not None:
            summary = _paragraph(output[failure.start() :])
        elif exit_code != 0:
            summary = f"{exit_summary(exit_code)}: {last_line(output)}"
        else:
            summary = last_line(output)
        return AgentOutcome(
            success=exit_code == 0 and failure is None,
            summary=clip(summary),
            tokens_in=sum(c[0] for c in counts) if counts else None,
            tokens_out=sum(c[1] for c in counts) if counts else None,
            cost_usd=float(costs[-1].replace(",", "")) if costs else None,
        )


def _paragraph(text: str) -> str:
    """The first paragraph of ``text`` on one line (aider wraps long error lines)."""
    return " ".join(text.split("\n\n", 1)[0].split())
