"""The worker's context: its environment and its instruction file."""

from __future__ import annotations

from pathlib import Path

from isollm.agents import (
    WorkerContext,
    from_config,
    install,
    keep_out_of_commits,
    render,
    worker_env,
)
from isollm.agents.environment import env_file_text
from isollm.agents.instructions import BEGIN, END, merge
from isollm.config.model import AiryraConfig, ClaudeConfig, Config, GitConfig
from tests.conftest import git

CTX = WorkerContext(
    project="shop",
    worker="worker-2",
    base_branch="develop",
    branch_prefix="agents/",
    project_path="/work/shop",
    hub="/hub/shop.git",
    airyra_host="10.0.3.1",
    airyra_port=7555,
    lease_seconds=120,
    custom_context="Run `make check` before committing.",
)


def test_interactive_brief_teaches_the_task_workflow() -> None:
    text = render(CTX)
    for expected in (
        "airyra claim-next",
        "airyra heartbeat <task-id>",
        "airyra done <task-id>",
        "airyra release <task-id>",
        'airyra block <task-id> --reason "<why>"',
        "airyra heartbeat <task-id> --every 40",
        '{"message": "No ready tasks"}',
        "exit code 6",
        "git switch -c agents/<task-id> origin/develop",
        "Never run `git push`: the hub is read-only to you",
        "airyra push <task-id>",
        "airyra context set --file <path> --status working",
        "airyra context show",
        "airyra lock <path>",
        "airyra unlock <path>",
        "every 40 seconds",
        "http://10.0.3.1:7555",
        "project `shop`",
        "agent `worker-2`",
        "/hub/shop.git",
        "/work/shop",
        "## About this project\n\nRun `make check` before committing.",
    ):
        assert expected in text, expected


def test_headless_brief_says_the_task_is_already_claimed() -> None:
    text = render(CTX.for_task("ar-77aa", "Add a cart"))
    assert "task `ar-77aa` (Add a cart)" in text
    assert "`agents/ar-77aa`" in text
    assert "Do not run `airyra claim-next`" in text
    assert 'git commit -m "ar-77aa: <what changed>"' in text
    assert "1. Take the next ready task" not in text


def test_no_project_section_without_custom_context() -> None:
    ctx = WorkerContext(project="p1", worker="w")
    assert "About this project" not in render(ctx)


def test_context_from_config_with_sandbox_overrides() -> None:
    config = Config(
        project="shop",
        git=GitConfig(base_branch="trunk", branch_prefix="t/"),
        airyra=AiryraConfig(port=7600, lease_seconds=60),
        claude=ClaudeConfig(context="Be nice."),
    )
    ctx = from_config(config, "w3", airyra_host="10.0.3.1", hub="/hub.git")
    assert (ctx.project, ctx.worker, ctx.base_branch, ctx.branch_prefix) == (
        "shop",
        "w3",
        "trunk",
        "t/",
    )
    assert (ctx.airyra_host, ctx.airyra_port, ctx.lease_seconds) == ("10.0.3.1", 7600, 60)
    assert ctx.custom_context == "Be nice."
    assert ctx.hub == "/hub.git"
    assert ctx.branch == "t/<task-id>"


def test_worker_env_names_the_server_identity_and_places() -> None:
    env = worker_env(CTX.for_task("ar-1", "x"), token="tok-secret")
    assert env["AIRYRA_HOST"] == "10.0.3.1"
    assert env["AIRYRA_PORT"] == "7555"
    assert env["AIRYRA_PROJECT"] == "shop"
    assert env["AIRYRA_AGENT"] == "worker-2"
    assert env["AIRYRA_TOKEN"] == "tok-secret"
    assert env["PROJECT_PATH"] == env["ISOLLM_PROJECT_PATH"] == "/work/shop"
    assert env["BARE_REPO_PATH"] == env["ISOLLM_HUB"] == "/hub/shop.git"
    assert env["ISOLLM_TASK_ID"] == "ar-1"
    assert env["ISOLLM_BRANCH"] == "agents/ar-1"


def test_worker_env_identity_can_differ_from_the_worker_name() -> None:
    ctx = WorkerContext(project="p1", worker="w1", airyra_agent="w1@host", airyra_project="q")
    env = worker_env(ctx)
    assert (env["AIRYRA_AGENT"], env["AIRYRA_PROJECT"]) == ("w1@host", "q")
    assert "AIRYRA_TOKEN" not in env
    assert "ISOLLM_TASK_ID" not in env


def test_env_file_leaves_out_secrets_and_quotes_values() -> None:
    text = env_file_text({"AIRYRA_TOKEN": "tok", "A": "it's $(x)", "bad name": "v"})
    assert "tok" not in text
    assert "export A='it'\"'\"'s $(x)'" in text
    assert "bad name" not in text


def test_merge_puts_the_brief_on_top_and_keeps_the_projects_text() -> None:
    merged = merge("# Project rules\n\nUse tabs.\n", "BRIEF\n")
    assert merged == f"{BEGIN}\nBRIEF\n{END}\n\n# Project rules\n\nUse tabs.\n"
    again = merge(merged, "NEW BRIEF\n")
    assert again == f"{BEGIN}\nNEW BRIEF\n{END}\n\n# Project rules\n\nUse tabs.\n"
    assert merge(again, "NEW BRIEF\n") == again


def test_merge_into_nothing_is_just_the_brief() -> None:
    assert merge(None, "BRIEF") == f"{BEGIN}\nBRIEF\n{END}\n"
    assert merge("", "BRIEF") == f"{BEGIN}\nBRIEF\n{END}\n"


def test_install_keeps_a_new_instruction_file_out_of_commits(git_repo: Path) -> None:
    path = install(git_repo, "AGENTS.md", CTX)
    assert path.read_text().startswith(BEGIN)
    assert git(git_repo, "status", "--porcelain") == ""
    git(git_repo, "add", "-A")
    assert git(git_repo, "diff", "--cached", "--name-only") == ""


def test_install_over_a_tracked_file_keeps_its_text_and_its_commits_clean(
    git_repo: Path,
) -> None:
    (git_repo / "CLAUDE.md").write_text("# Our own rules\n")
    git(git_repo, "add", "CLAUDE.md")
    git(git_repo, "commit", "-q", "-m", "add CLAUDE.md")
    install(git_repo, "CLAUDE.md", CTX)
    install(git_repo, "CLAUDE.md", CTX)  # twice: still one brief
    text = (git_repo / "CLAUDE.md").read_text()
    assert text.count(BEGIN) == 1
    assert text.endswith("# Our own rules\n")
    (git_repo / "work.txt").write_text("done\n")
    git(git_repo, "add", "-A")
    assert git(git_repo, "diff", "--cached", "--name-only") == "work.txt"


def test_install_works_in_a_linked_worktree(git_repo: Path, tmp_path: Path) -> None:
    tree = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "agents/ar-1", str(tree))
    install(tree, "AGENTS.md", CTX)
    assert git(tree, "status", "--porcelain") == ""


def test_an_agents_scratch_files_stay_out_of_commits(git_repo: Path) -> None:
    keep_out_of_commits(git_repo, [".aider*"])
    keep_out_of_commits(git_repo, [".aider*"])  # once in the exclude file
    (git_repo / ".aider.tags.cache.v4").mkdir()
    (git_repo / ".aider.tags.cache.v4" / "cache.db").write_text("x")
    assert git(git_repo, "status", "--porcelain") == ""
    exclude = (git_repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count(".aider*") == 1
