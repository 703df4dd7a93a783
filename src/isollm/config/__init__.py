"""Project configuration: the model, loading with validation, saving, and the template."""

from isollm.config.load import (
    CONFIG_FILE,
    STATE_DIR,
    Loaded,
    dump_yaml,
    find_project_root,
    load,
    load_valid,
    parse,
    save,
    to_dict,
)
from isollm.config.model import Config
from isollm.config.report import ConfigValidationError, Problem, Report
from isollm.config.template import render as render_template

__all__ = [
    "CONFIG_FILE",
    "STATE_DIR",
    "Config",
    "ConfigValidationError",
    "Loaded",
    "Problem",
    "Report",
    "dump_yaml",
    "find_project_root",
    "load",
    "load_valid",
    "parse",
    "render_template",
    "save",
    "to_dict",
]
