"""The embedded demo: a sample repository, a dozen tasks and a scripted agent."""
