"""Git: a typed facade over the project's subprocess wrapper, the hub, and sync."""
