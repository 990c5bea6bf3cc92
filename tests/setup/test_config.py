"""helpers.setup.config: flags and folders read from the environment at call time."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.setup.config import (
    DATA_ENV,
    SMOKE_ENV,
    STAND_IN_FILENAME,
    WEIGHTS_ENV,
    data_dir,
    flag,
    smoke,
    stand_in_checkpoint,
    weights_dir,
)

FLAG = "VIT_NOTEBOOKS_TEST_ONLY_FLAG"
FOLDER_FUNCTIONS = [(weights_dir, WEIGHTS_ENV), (data_dir, DATA_ENV)]


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "on", " 1 ", "ON\n"])
def test_flag_true_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """1/true/yes/on, in any case and with surrounding whitespace, are true."""
    monkeypatch.setenv(FLAG, value)
    assert flag(FLAG) is True


@pytest.mark.parametrize("value", ["", " ", "0", "false", "no", "off", "2", "y", "enabled"])
def test_flag_false_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Anything else, including the empty string, is false."""
    monkeypatch.setenv(FLAG, value)
    assert flag(FLAG) is False


def test_flag_unset_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FLAG, raising=False)
    assert flag(FLAG) is False


def test_flag_reads_environment_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing the variable after import changes the answer at once."""
    monkeypatch.setenv(FLAG, "0")
    assert not flag(FLAG)
    monkeypatch.setenv(FLAG, "1")
    assert flag(FLAG)


@pytest.mark.parametrize(("function", "variable"), FOLDER_FUNCTIONS)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_folder_none_when_unset_or_blank(monkeypatch: pytest.MonkeyPatch, function, variable,
                                         value) -> None:
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)
    assert function() is None


@pytest.mark.parametrize(("function", "variable"), FOLDER_FUNCTIONS)
def test_folder_returns_existing_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       function, variable) -> None:
    monkeypatch.setenv(variable, f"  {tmp_path}  ")
    assert function() == tmp_path


@pytest.mark.parametrize(("function", "variable"), FOLDER_FUNCTIONS)
def test_folder_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, function,
                             variable) -> None:
    """``~`` in the variable means the home folder."""
    (tmp_path / "weights").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(variable, "~/weights")
    assert function() == tmp_path / "weights"


@pytest.mark.parametrize(("function", "variable"), FOLDER_FUNCTIONS)
@pytest.mark.parametrize("target", ["missing", "a_file"])
def test_folder_not_a_folder_raises_naming_variable(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path, function, variable,
                                                    target) -> None:
    """A variable naming a missing path or a file is an error that names the variable."""
    (tmp_path / "a_file").write_text("not a folder")
    path = tmp_path / target
    monkeypatch.setenv(variable, str(path))
    with pytest.raises(FileNotFoundError) as info:
        function()
    assert variable in str(info.value)
    assert str(path) in str(info.value)


def test_stand_in_checkpoint_none_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert stand_in_checkpoint() is None


def test_stand_in_checkpoint_none_when_folder_lacks_file(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    (tmp_path / "other.safetensors").write_bytes(b"x")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert stand_in_checkpoint() is None


def test_stand_in_checkpoint_none_when_name_is_a_folder(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    (tmp_path / STAND_IN_FILENAME).mkdir()
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert stand_in_checkpoint() is None


def test_stand_in_checkpoint_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / STAND_IN_FILENAME).write_bytes(b"placeholder")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert stand_in_checkpoint() == tmp_path / STAND_IN_FILENAME


def test_stand_in_checkpoint_propagates_bad_folder(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=WEIGHTS_ENV):
        stand_in_checkpoint()


def test_stand_in_filename_matches_shared_checkpoint() -> None:
    """The name CI's ../shared/weights folder uses."""
    assert STAND_IN_FILENAME == "vit_tiny_patch16_224.safetensors"


@pytest.mark.parametrize(("value", "expected"),
                         [(None, False), ("1", True), ("true", True), ("0", False), ("", False)])
def test_smoke(monkeypatch: pytest.MonkeyPatch, value, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv(SMOKE_ENV, raising=False)
    else:
        monkeypatch.setenv(SMOKE_ENV, value)
    assert smoke() is expected
