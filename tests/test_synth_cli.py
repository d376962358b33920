"""``mcd data synth``: clear errors for bad arguments, the cached message and the check summary."""

from __future__ import annotations

import pytest

from mcdlib.cli import main
from mcdlib.scenes.build import build_dataset
from mcdlib.scenes.profiles import get_profile

pytestmark = pytest.mark.xdist_group("music_scenes_tiny")


def _synth(capsys, *args) -> tuple[int, str, str]:
    status = main(["data", "synth", "--no-progress", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "unknown music-scenes profile 'huge'; choose one of tiny, classroom, full"),
    (["--profile", "tiny", "--media", "51"], "--media 51: the dataset has 50 videos"),
    (["--profile", "tiny", "--set", "vidoes=8"], "unknown config key 'vidoes'"),
    (["--profile", "tiny", "--set", "videos=4", "--media", "5"], "--media 5: the dataset has 4 videos"),
])
def test_bad_arguments_exit_2_with_a_message_naming_the_value(capsys, tmp_path, args, message):
    status, out, err = _synth(capsys, "--out", str(tmp_path / "out"), *args)
    assert status == 2 and message in err and "Traceback" not in err


def test_an_unwritable_folder_is_a_clear_error(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    status, _, err = _synth(capsys, "--profile", "tiny", "--set", "videos=4", "--out", str(tmp_path / "file" / "x"))
    assert status == 2 and str(tmp_path / "file") in err and "--out" in err


@pytest.mark.slow
def test_a_finished_build_is_reported_as_cached_with_the_check_summary(capsys, tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "music_scenes_tiny"
    build_dataset(get_profile("tiny"), out, seed=0, progress=False)  # shared with test_build (cached there)
    status, printed, _ = _synth(capsys, "--profile", "tiny", "--out", str(out))
    assert status == 0
    assert "cached" in printed and "50 videos of 10 s" in printed
    assert "Overall" in printed and "no problems found" in printed
