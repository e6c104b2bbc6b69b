"""Post-processing: code extraction, validation and inline-completion clean-up."""

from __future__ import annotations

from nexus_server_ext.ai.postprocess import clean_completion, extract_code, validate_code


def test_extracts_the_python_block_and_the_prose() -> None:
    text = "Sure!\n```python\ndef f():\n    return 1\n```\nIt returns one.\n```bash\nls\n```"
    answer = extract_code(text)
    assert answer.code == "def f():\n    return 1\n"
    assert "It returns one." in answer.explanation and "def f" not in answer.explanation
    assert validate_code(answer) is None


def test_unfenced_code_and_invalid_code() -> None:
    assert extract_code("x = 1\nprint(x)").code == "x = 1\nprint(x)\n"
    bad = extract_code("```python\ndef f(:\n```")
    assert "line 1" in (validate_code(bad) or "")
    assert validate_code(extract_code("I cannot help with that.")) == "the answer contains no code"


def test_completion_drops_chatter_repeats_and_the_suffix() -> None:
    prefix = "def area(r):\n    return "
    assert clean_completion("Here is the completion:\n3.14 * r * r", prefix, "") == "3.14 * r * r"
    assert clean_completion("    return 3.14 * r * r", prefix, "") == "3.14 * r * r"
    suffix = "\n\nprint(area(2))\n"
    assert clean_completion("3.14 * r ** 2\nprint(area(2))", prefix, suffix) == "3.14 * r ** 2"
    assert clean_completion("```python\nx + 1\n```", "y = ", "") == "x + 1"
    assert clean_completion("a = 1\n\n# unrelated", "", "") == "a = 1"


def test_a_completion_never_carries_a_code_fence() -> None:
    # What the bundled model wrote after `def fahrenheit(celsius):\n    return `: the code, then a fence
    # closing a block it never opened; accepting it with Tab made the cell a SyntaxError.
    prefix = "def fahrenheit(celsius):\n    return "
    assert clean_completion("celsius * 9 / 5 + 32\n```", prefix, "") == "celsius * 9 / 5 + 32"
    assert clean_completion("celsius * 9 / 5 + 32\n```\nThis converts.", prefix, "") == "celsius * 9 / 5 + 32"
    assert clean_completion("  ```", prefix, "") == ""
    for text in ("x * 2\n```python", "```\n", "x\n    ```"):
        assert "```" not in clean_completion(text, prefix, "")
    assert clean_completion("x * 2```", prefix, "") == "x * 2"  # a fence after code on its line


def test_a_completion_may_start_like_the_end_of_the_line() -> None:
    # Only a restart of the whole line is a repeat: `warm = df[` + `df["temp"] > 10]` is right code.
    assert clean_completion('df["temp"] > 10]', "warm = df[", "") == 'df["temp"] > 10]'
    assert clean_completion("warm = df[df.t > 1]", "warm = df[", "") == "df.t > 1]"
