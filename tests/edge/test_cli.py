"""The command grammar: intermixed key=value overrides, --data FORMAT:PATH, old spellings rewritten,
grouped help, and every command line of the README and the Makefile parses."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.cli import COMMANDS, SECTIONS, main, parse_args

REPO = Path(__file__).resolve().parents[2]


def test_overrides_may_stand_anywhere():
    args = parse_args(["train", "a=1", "--config", "X", "b.c=2", "--resume"])
    assert (args.config, args.overrides, args.resume) == ("X", ["a=1", "b.c=2"], True)
    args = parse_args(["predict", "b", "in1", "crop.margin=0.5", "--out", "d", "in2", "--whole", "x=1"])
    assert args.inputs == ["in1", "in2"] and args.overrides == ["crop.margin=0.5", "x=1"]


def test_option_values_and_inputs_after_double_dash_are_never_overrides():
    args = parse_args(["evaluate", "c.pt", "--json", "a=b.json", "data.size=64"])
    assert args.json == "a=b.json" and args.overrides == ["data.size=64"]
    assert parse_args(["predict", "b", "--out", "d", "--", "a=b.jpg"]).inputs == ["a=b.jpg"]
    assert parse_args(["predict", "b", "--ou", "d", "k=v", "x.jpg"]).overrides == ["k=v"]  # abbreviation


def test_a_command_without_a_config_refuses_overrides(capsys):
    with pytest.raises(SystemExit):
        parse_args(["bench", "b", "runs=5"])
    assert "unrecognized arguments: runs=5" in capsys.readouterr().err


def test_data_is_format_colon_path_and_sets_the_recipe_keys(capsys):
    args = parse_args(["evaluate", "c.pt", "--data", "folder:../x:y", "--schema", "lfw_parts"])
    assert args.data.overrides(args.schema) == ["data.format='folder'", "data.root='../x:y'",
                                                "data.schema='lfw_parts'"]
    with pytest.raises(SystemExit):
        parse_args(["quantize", "ptq", "c.pt", "--out", "o", "--data", "root=/data/LaPa"])
    assert "write data.root=/data/LaPa" in capsys.readouterr().err
    assert main(["evaluate", "c.pt", "--schema", "lfw_parts"]) == 2
    assert "give --data FORMAT:PATH too" in capsys.readouterr().err


def test_old_spellings_are_rewritten_with_a_note(capsys):
    args = parse_args(["distill", "--config", "x.yaml", "--cache-only"])
    assert args._run.__module__ == "training.train_cmd" and args.cache_only
    args = parse_args(["quantize", "qat", "--checkpoint=c.pt", "--out", "o"])
    assert args.checkpoint == "c.pt"
    args = parse_args(["validate", "b", "--min-agreement", "97", "--max-delta-miou=2"])
    assert args.overrides == ["min_agreement_pct=97", "max_delta_miou_pts=2"]
    err = capsys.readouterr().err
    assert "`distill` is now `train`" in err and "--checkpoint is deprecated; write c.pt" in err
    assert "--min-agreement is deprecated; write min_agreement_pct=97" in err


def test_help_lists_every_command_under_its_section(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    headings = [text.index(f"\n{section}: ") for section in SECTIONS]
    assert headings == sorted(headings)
    for command in COMMANDS:
        line = f"  {' '.join(command.words)} "
        assert line in text, command.words
        at = text.index(line)
        assert max(h for h in headings if h < at) == text.index(f"\n{command.section}: ")


def _shell_commands(text: str) -> list[str]:
    """The simple commands of shell text: continuation lines joined, split at ; && || and newlines."""
    return re.split(r"\n|;|&&|\|\|", text.replace("\\\n", " "))


def _edgeparse_argv(line: str) -> list[str] | None:
    """The edgeparse arguments of a shell line (``edgeparse ...``, ``.venv/bin/edgeparse ...``,
    ``... -m edge.cli ...``), or None for other lines."""
    words = shlex.split(line, comments=True)
    for i, word in enumerate(words):
        if word == "edgeparse" or word.endswith("/edgeparse"):
            return words[i + 1:]
        if word == "edge.cli" and i and words[i - 1] == "-m":
            return words[i + 1:]
    return None


def _parses(argv: list[str]) -> None:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`edgeparse {shlex.join(argv)}` does not parse (exit {exc.code})")
    assert hasattr(args, "_run"), f"`edgeparse {shlex.join(argv)}` names no command"


def test_every_readme_command_parses_and_every_command_has_an_example(capsys):
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    examples = [argv for argv in map(_edgeparse_argv, _shell_commands("\n".join(blocks))) if argv]
    assert examples
    for argv in examples:
        _parses(argv)
    assert "deprecated" not in capsys.readouterr().err  # the README shows today's spellings
    shown = {tuple(argv[:len(c.words)]) for argv in examples for c in COMMANDS}
    missing = [" ".join(c.words) for c in COMMANDS if c.words not in shown]
    assert not missing, f"no README example for: {', '.join(missing)}"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_makefile_command_parses(capsys):
    targets = ["deploy", "bench", "train", "demo", "default-student", "kd-ablation", "kd-ablation-real",
               "autolabel-ablation"]
    dry = subprocess.run(["make", "-n", "-s", *targets], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "MAKEFLAGS": ""})
    commands = [argv for argv in map(_edgeparse_argv, _shell_commands(dry.stdout)) if argv]
    assert len(commands) >= 10, dry.stdout
    for argv in commands:
        _parses([a.replace("$s", "2020") for a in argv])
    assert "deprecated" not in capsys.readouterr().err
