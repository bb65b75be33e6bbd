"""What every command does around absl: parse the flags, answer `--help` with the command's own flags in
groups, and end a bad flag the way every other bad input ends (one line `error: ...`, exit 2, no traceback).

absl's own behaviour, which this replaces for the commands: a parser error prints "FATAL Flags parsing
error" and a second line and exits 1; `--help` lists only flags defined in the `__main__` module (none
here); `app.UsageError` prints the module's docstring. `--helpfull` still prints absl's full listing.
"""

from __future__ import annotations

import sys
import textwrap

from absl import app, flags

from pipelines.commands import errors

HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
WIDTH = 100


def run(main, command: str, summary: str, groups, derive=None) -> None:
    """Runs `main` as absl's `app.run` does, with the parser, help and usage errors of this module.

    Args:
      main: the command's main(argv) -> exit code.
      command: the module users run, e.g. "tfgan.train".
      summary: the usage lines printed at the top of `--help`.
      groups: ((title, (flag name, ...)), ...) in the order `--help` lists them.
      derive: optional fn(flag values, command-line flagfile or None) called after parsing, to fill in
        defaults that depend on other flags (the run directory).
    """
    def parse(argv):
        return parse_flags(argv, command, summary, groups, derive)

    def guarded(argv):
        try:
            return main(argv)
        except app.UsageError as e:
            return usage_error(str(e), command)

    app.run(guarded, flags_parser=parse)


def parse_flags(argv, command, summary, groups, derive=None, fv: flags.FlagValues = flags.FLAGS):
    """absl's parse, with `--help` answered here and parser errors as one line with exit 2."""
    if any(arg in HELP_ARGS for arg in argv[1:]):
        print(format_help(command, summary, groups, fv))
        sys.exit(0)
    try:
        rest = fv(argv)
    except flags.Error as e:
        sys.exit(usage_error(str(e), command))
    if derive is not None:
        derive(fv, command_line_flagfile(argv))
    return rest


def usage_error(message: str, command: str) -> int:
    """Prints a bad flag or argument as one line and returns the exit code for bad input."""
    text = " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    text = text.replace("ERROR:: ", "")
    print(f"error: {text} (python -m {command} --help lists the flags)", file=sys.stderr)
    return errors.BAD_INPUT


def command_line_flagfile(argv) -> str | None:
    """The last `--flagfile` given on the command line (the config a user ran), or None."""
    found = None
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith(("--flagfile=", "-flagfile=")):
            found = arg.split("=", 1)[1]
        elif arg in ("--flagfile", "-flagfile") and i + 1 < len(argv):
            found = argv[i + 1]
    return found


def format_help(command: str, summary: str, groups, fv: flags.FlagValues = flags.FLAGS) -> str:
    """The `--help` text: usage, then each group's flags with their defaults and help."""
    lines = [summary.strip(), ""]
    for title, names in groups:
        present = [n for n in names if n in fv]
        if not present:
            continue
        lines.append(f"{title}:")
        for name in present:
            lines.append(f"  {_flag_line(fv[name])}")
            lines.extend(textwrap.wrap(_help_text(fv[name]), WIDTH, initial_indent=" " * 6,
                                       subsequent_indent=" " * 6))
        lines.append("")
    lines.append(f"--flagfile=FILE reads flags from a file (one per line, e.g. configs/*.cfg); later flags win. "
                 f"--helpfull also lists absl's own flags.")
    return "\n".join(lines)


def _help_text(flag) -> str:
    text = flag.help or ""
    if getattr(flag.parser, "enum_values", None) and text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]  # absl's "<a|b>: " prefix; the choices are on the flag's line
    return text


def _flag_line(flag) -> str:
    default = flag.default
    if flag.flag_type() == "bool":
        return f"--[no]{flag.name}  (default: {'true' if default else 'false'})"
    if isinstance(default, (list, tuple)):
        shown = ",".join(map(str, default))
    else:
        shown = "" if default is None else str(default)
    choices = getattr(flag.parser, "enum_values", None)
    tail = f"  (one of: {', '.join(choices)})" if choices else ""
    return f"--{flag.name}={shown}{tail}" if shown else f"--{flag.name}=  (default: none){tail}"
