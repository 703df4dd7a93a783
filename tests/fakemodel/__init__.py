"""A fake model server for driving real agent CLIs offline in tests."""

from tests.fakemodel.script import RunCommand, Script, WriteFile
from tests.fakemodel.server import FakeModelServer, Recorded

__all__ = ["FakeModelServer", "Recorded", "RunCommand", "Script", "WriteFile"]
