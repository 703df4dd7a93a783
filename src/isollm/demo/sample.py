"""The sample repository and task list the demo runs on.

A tiny Python library, ``textkit``, and twelve tasks that grow it: each task carries the
recipe the scripted demo agent follows, and some depend on others (tests after the code
they test, the README after the functions it documents).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FILES: dict[str, str] = {
    "README.md": "# textkit\n\nSmall text helpers, grown by isollm's demo agents.\n",
    "textkit/__init__.py": '"""Small text helpers."""\n',
    "pyproject.toml": '[project]\nname = "textkit"\nversion = "0.1.0"\n',
}


@dataclass(frozen=True)
class DemoTask:
    key: str
    title: str
    recipe: str
    priority: int = 2
    after: tuple[str, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        return f"Follow this recipe exactly.\n\n{self.recipe}"


def _file(path: str, body: str) -> str:
    return f"```file {path}\n{body}```\n"


def _fn(name: str, doc: str, body: str) -> str:
    return f'def {name}(text: str) -> str:\n    """{doc}"""\n    {body}\n'


TASKS: tuple[DemoTask, ...] = (
    DemoTask(
        "slug",
        "Add slugify()",
        _file(
            "textkit/slug.py",
            "import re\n\n\n"
            + _fn(
                "slugify",
                "Lower-case words joined by hyphens.",
                "return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')",
            ),
        ),
        priority=1,
    ),
    DemoTask(
        "title",
        "Add title_case()",
        _file(
            "textkit/title.py",
            _fn(
                "title_case",
                "Capitalise every word.",
                "return ' '.join(w.capitalize() for w in text.split())",
            ),
        ),
        priority=1,
    ),
    DemoTask(
        "reverse",
        "Add reverse_words()",
        _file(
            "textkit/reverse.py",
            _fn(
                "reverse_words",
                "Words in reverse order.",
                "return ' '.join(reversed(text.split()))",
            ),
        ),
    ),
    DemoTask(
        "vowels",
        "Add strip_vowels()",
        _file(
            "textkit/vowels.py",
            _fn(
                "strip_vowels",
                "The text without vowels.",
                "return ''.join(c for c in text if c.lower() not in 'aeiou')",
            ),
        ),
    ),
    DemoTask(
        "count",
        "Add word_count()",
        _file(
            "textkit/count.py",
            'def word_count(text: str) -> int:\n    """How many words."""\n'
            "    return len(text.split())\n",
        ),
    ),
    DemoTask(
        "rot13",
        "Add rot13()",
        _file(
            "textkit/rot13.py",
            "import codecs\n\n\n"
            + _fn("rot13", "ROT13 of the text.", "return codecs.encode(text, 'rot13')"),
        ),
        priority=3,
    ),
    DemoTask(
        "test-slug",
        "Test slugify()",
        _file(
            "tests/test_slug.py",
            "from textkit.slug import slugify\n\n\ndef test_slugify() -> None:\n"
            "    assert slugify('Hello, World!') == 'hello-world'\n",
        ),
        after=("slug",),
    ),
    DemoTask(
        "test-title",
        "Test title_case()",
        _file(
            "tests/test_title.py",
            "from textkit.title import title_case\n\n\ndef test_title_case() -> None:\n"
            "    assert title_case('isollm runs agents') == 'Isollm Runs Agents'\n",
        ),
        after=("title",),
    ),
    DemoTask(
        "test-count",
        "Test word_count()",
        _file(
            "tests/test_count.py",
            "from textkit.count import word_count\n\n\ndef test_word_count() -> None:\n"
            "    assert word_count('one two  three') == 3\n",
        ),
        after=("count",),
    ),
    DemoTask(
        "changelog",
        "Start a changelog",
        _file(
            "CHANGELOG.md",
            "# Changelog\n\n## 0.1.0\n\n- First release of textkit.\n",
        ),
        priority=3,
    ),
    DemoTask(
        "docs",
        "Document the API",
        _file(
            "docs/api.md",
            "# textkit API\n\n- `slugify(text)`\n- `title_case(text)`\n- `word_count(text)`\n",
        ),
        after=("slug", "title", "count"),
    ),
    DemoTask(
        "cli",
        "Add a command-line entry point",
        _file(
            "textkit/__main__.py",
            "import sys\n\nfrom textkit.slug import slugify\n"
            "from textkit.title import title_case\n\n"
            "if __name__ == '__main__':\n"
            "    print(title_case(slugify(' '.join(sys.argv[1:])).replace('-', ' ')))\n",
        ),
        after=("slug", "title"),
    ),
)
