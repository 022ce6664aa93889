"""The safety table, cell by cell, and how `enforce` asks, refuses and accepts."""

import pytest

from nself import safety
from nself.errors import Refused
from nself.safety import Rule

# Written out by hand from the guides' "Environment-Specific Behavior" table (and the
# issue's additions), so that a change to safety.TABLE has to change this too.
EXPECTED = {
    ("migrate up", "local"): (Rule.ALLOW, None),
    ("migrate up", "staging"): (Rule.CONFIRM, None),
    ("migrate up", "production"): (Rule.CONFIRM, None),
    ("migrate down", "local"): (Rule.ALLOW, None),
    ("migrate down", "staging"): (Rule.CONFIRM, None),
    ("migrate down", "production"): (Rule.TYPED, "yes-destroy-production"),
    ("migrate fresh", "local"): (Rule.ALLOW, None),
    ("migrate fresh", "staging"): (Rule.BLOCKED, None),
    ("migrate fresh", "production"): (Rule.BLOCKED, None),
    ("mock", "local"): (Rule.ALLOW, None),
    ("mock", "staging"): (Rule.BLOCKED, None),
    ("mock", "production"): (Rule.BLOCKED, None),
    ("seed", "local"): (Rule.ALLOW, None),
    ("seed", "staging"): (Rule.CONFIRM, None),
    ("seed", "production"): (Rule.CONFIRM, None),
    ("restore", "local"): (Rule.ALLOW, None),
    ("restore", "staging"): (Rule.CONFIRM, None),
    ("restore", "production"): (Rule.TYPED, "yes-restore-production"),
    ("backup", "local"): (Rule.ALLOW, None),
    ("backup", "staging"): (Rule.ALLOW, None),
    ("backup", "production"): (Rule.ALLOW, None),
    ("reset", "local"): (Rule.ALLOW, None),
    ("reset", "staging"): (Rule.CONFIRM, None),
    ("reset", "production"): (Rule.BLOCKED, None),
    ("update", "local"): (Rule.ALLOW, None),
    ("update", "staging"): (Rule.CONFIRM, None),
    ("update", "production"): (Rule.CONFIRM, None),
    ("migrate repair", "local"): (Rule.ALLOW, None),
    ("migrate repair", "staging"): (Rule.CONFIRM, None),
    ("migrate repair", "production"): (Rule.TYPED, "yes-destroy-production"),
    ("schema import --apply", "local"): (Rule.ALLOW, None),
    ("schema import --apply", "staging"): (Rule.BLOCKED, None),
    ("schema import --apply", "production"): (Rule.BLOCKED, None),
    ("migrate import", "local"): (Rule.ALLOW, None),  # --adopt-applied (issue 18)
    ("migrate import", "staging"): (Rule.CONFIRM, None),
    ("migrate import", "production"): (Rule.CONFIRM, None),
    ("migrate baseline", "local"): (Rule.ALLOW, None),  # issue 18 (added with import's)
    ("migrate baseline", "staging"): (Rule.CONFIRM, None),
    ("migrate baseline", "production"): (Rule.CONFIRM, None),
}


def test_every_table_cell_is_covered():
    """The expectations below name every cell of the table, no more, no less."""
    cells = {(cmd, env) for cmd in safety.TABLE for env in ("local", "staging", "production")}
    assert cells == set(EXPECTED)


@pytest.mark.parametrize("cell", sorted(EXPECTED), ids=lambda c: f"{c[0]}@{c[1]}")
def test_policy_cell(cell):
    """Each (command, environment) cell has the rule the guides give it."""
    rule, word = EXPECTED[cell]
    policy = safety.policy_for(*cell)
    assert policy.rule is rule
    assert policy.word == word


@pytest.mark.parametrize("cell", sorted(EXPECTED), ids=lambda c: f"{c[0]}@{c[1]}")
def test_enforce_without_terminal(cell):
    """Without a terminal, only allowed cells pass unconfirmed; the refusal names the flag."""
    rule, word = EXPECTED[cell]

    def no_prompt(_):
        raise AssertionError("must not prompt without a terminal")

    if rule is Rule.ALLOW:
        safety.enforce(*cell, interactive=False, ask=no_prompt)
        return
    with pytest.raises(Refused) as info:
        safety.enforce(*cell, interactive=False, ask=no_prompt)
    message = str(info.value)
    if rule is Rule.CONFIRM:
        assert "--yes" in message
        safety.enforce(*cell, yes=True, interactive=False, ask=no_prompt)
    elif rule is Rule.TYPED:
        assert f"--confirm {word}" in message
        safety.enforce(*cell, confirm=word, interactive=False, ask=no_prompt)
        with pytest.raises(Refused):
            safety.enforce(*cell, yes=True, interactive=False, ask=no_prompt)
    else:
        assert "blocked" in message
        with pytest.raises(Refused):
            safety.enforce(*cell, yes=True, confirm="yes-destroy-production", interactive=False)


def test_wrong_typed_word_is_refused():
    """A typed word that is not the exact word refuses, even on a terminal."""
    with pytest.raises(Refused, match="yes-restore-production"):
        safety.enforce("restore", "production", confirm="yes", interactive=True)


def test_terminal_confirmation_asks_and_accepts_yes():
    """On a terminal a confirmation is asked, and 'y' lets the command run."""
    prompts = []
    safety.enforce("migrate up", "staging", interactive=True,
                   ask=lambda p: prompts.append(p) or "y")
    assert prompts and "staging" in prompts[0]


def test_terminal_confirmation_refuses_anything_else():
    """On a terminal, an answer other than yes cancels."""
    with pytest.raises(Refused, match="cancelled"):
        safety.enforce("seed", "production", interactive=True, ask=lambda p: "n")


def test_terminal_typed_word():
    """On a terminal the typed word is asked for and must match exactly."""
    safety.enforce("migrate down", "production", interactive=True,
                   ask=lambda p: "yes-destroy-production")
    with pytest.raises(Refused):
        safety.enforce("migrate down", "production", interactive=True, ask=lambda p: "yes")


def test_end_of_input_at_prompt_refuses():
    """Ctrl-D at a prompt is a no."""
    def eof(_):
        raise EOFError

    with pytest.raises(Refused):
        safety.enforce("restore", "staging", interactive=True, ask=eof)


def test_ask_yes_no_flag_answers_without_asking():
    """`--yes` answers yes with no prompt, terminal or not."""
    def no_prompt(_):
        raise AssertionError("must not prompt")

    assert safety.ask_yes_no("Drop it?", yes=True, interactive=False, ask=no_prompt)
    assert safety.ask_yes_no("Drop it?", yes=True, interactive=True, ask=no_prompt)


def test_ask_yes_no_without_terminal_refuses_naming_the_flag():
    """Without a terminal it never prompts: it refuses, repeating the question and the flag."""
    with pytest.raises(Refused, match=r"Drop it\? There is no terminal to ask: pass --force"):
        safety.ask_yes_no("Drop it?", interactive=False, flag="--force",
                          ask=lambda _: pytest.fail("prompted"))


@pytest.mark.parametrize("answer,agreed", [("y", True), ("YES", True), (" yes ", True),
                                           ("", False), ("n", False), ("yess", False)])
def test_ask_yes_no_on_a_terminal(answer, agreed):
    """On a terminal only y/yes (any case) agrees; the prompt ends with [y/N]."""
    prompts = []
    assert safety.ask_yes_no("Drop it?", interactive=True,
                             ask=lambda p: prompts.append(p) or answer) is agreed
    assert prompts == ["Drop it? [y/N] "]


def test_ask_yes_no_ctrl_c_and_ctrl_d():
    """Ctrl-D at the prompt is no; Ctrl-C cancels (Refused)."""
    def eof(_):
        raise EOFError

    def interrupt(_):
        raise KeyboardInterrupt

    assert safety.ask_yes_no("Drop it?", interactive=True, ask=eof) is False
    with pytest.raises(Refused, match="Cancelled"):
        safety.ask_yes_no("Drop it?", interactive=True, ask=interrupt)


def test_detail_is_shown_before_the_prompt(capsys):
    """`enforce(detail=...)` prints what will be touched before it asks."""
    seen = []
    safety.enforce("migrate up", "staging", interactive=True, detail="001_a\n002_b",
                   ask=lambda p: seen.append(capsys.readouterr().out) or "y")
    assert seen == ["001_a\n002_b\n"]


def test_production_restore_takes_either_guide_word():
    """The workflow guide's yes-restore-production and the migrations guide's
    yes-destroy-production both confirm a production restore; the prompt asks for the
    workflow guide's word, and a terminal answer of either is accepted."""
    for word in ("yes-restore-production", "yes-destroy-production"):
        safety.enforce("restore", "production", confirm=word, interactive=False)
        safety.enforce("restore", "production", interactive=True, ask=lambda p, w=word: w)
    prompts = []
    safety.enforce("restore", "production", interactive=True,
                   ask=lambda p: prompts.append(p) or "yes-restore-production")
    assert "Type yes-restore-production" in prompts[0]
    with pytest.raises(Refused, match="--confirm yes-restore-production"):
        safety.enforce("restore", "production", interactive=False)
