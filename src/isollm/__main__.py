"""``python -m isollm``: the same command as the installed ``isollm``."""

from isollm.cli.main import entry

if __name__ == "__main__":
    entry()
