"""``--task NAME [--split FILE]`` pairs on a command line: a file belongs to the task
named just before it, so ``--task a --task b --split b.csv`` gives ``a`` its shipped
data and ``b`` the file."""

from __future__ import annotations

import argparse


class TaskAction(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        pairs = list(getattr(namespace, self.dest, None) or [])
        pairs.append([value, None])
        setattr(namespace, self.dest, pairs)


class TaskFileAction(argparse.Action):
    """Attach a file to the last ``--task``; ``task_dest`` names where the pairs live."""

    def __init__(self, *args, task_dest: str = "tasks", **kwargs):
        self.task_dest = task_dest
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, value, option_string=None):
        pairs = getattr(namespace, self.task_dest, None) or []
        if not pairs:
            parser.error(f"{option_string} {value}: give --task NAME before its file")
        if pairs[-1][1] is not None:
            parser.error(f"{option_string} {value}: task {pairs[-1][0]!r} already has the file {pairs[-1][1]}")
        pairs[-1][1] = value


def add_task_arguments(parser: argparse.ArgumentParser, file_flag: str, required: bool) -> None:
    """``--task`` (repeatable) and ``file_flag`` (a file for the task just named)."""
    parser.add_argument("--task", dest="tasks", action=TaskAction, default=[], required=required,
                        help="task name; repeat for several")
    parser.add_argument(file_flag, dest="task_file", action=TaskFileAction, task_dest="tasks",
                        help="data file for the --task named just before (default: the file the package ships)")
