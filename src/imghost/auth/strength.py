"""Account password strength, judged by zxcvbn (common passwords, names,
keyboard patterns, dates, l33t substitutions, the user's own name and email).

zxcvbn's time grows with the input's length, so it sees at most
:data:`JUDGED_LENGTH` characters: a password whose start is strong is strong.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

from imghost.concurrency import run_cpu_bound
from imghost.errors import AppError

MIN_SCORE = 3  # zxcvbn 0-4; 3: "safely unguessable", ~10^8 guesses and more
JUDGED_LENGTH = 64
MIN_PASSWORD_LENGTH = 10


def _judge(password: str, user_inputs: list[str]) -> tuple[int, str, list[str]]:
    """(score, warning, suggestions)."""
    result = zxcvbn(password[:JUDGED_LENGTH], user_inputs=user_inputs)
    feedback = result["feedback"]
    return result["score"], feedback["warning"], list(feedback["suggestions"])


async def check_password_strength(password: str, *user_inputs: str) -> None:
    """422 ``weak_password`` unless ``password`` is long and hard to guess.

    ``user_inputs`` (username, email) count as known words: a password made
    of them is weak for this account.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(
            422,
            "weak_password",
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.",
        )
    inputs = [text for value in user_inputs for text in (value, *value.split("@")) if text]
    # Pure Python and a few ms; off the loop with the other CPU-bound work.
    score, warning, suggestions = await run_cpu_bound("zxcvbn", _judge, password, inputs)
    if score >= MIN_SCORE:
        return
    advice = [warning, *suggestions]
    said = " ".join(part.strip() for part in advice if part and part.strip())
    raise AppError(
        422,
        "weak_password",
        "This password is too easy to guess." + (f" {said}" if said else ""),
    )
