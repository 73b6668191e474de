"""CarRacing rollouts for World Models: collecting in worker processes (reproducible, resumable, cancellable)
and reading the episodes back, on a few episodes of a few dozen steps."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from studio.core.data import DataError
from studio_builtins.world_models.collect import CollectError, SmoothRandomPolicy, collect
from studio_builtins.world_models.rollouts import (
    Episode,
    episode_name,
    frame_64,
    load_rollouts,
    read_episode,
    save_episode,
)

STEPS = 30


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """Three episodes collected by two workers."""
    folder = tmp_path_factory.mktemp("rollouts")
    result = collect(folder, 3, STEPS, workers=2, seed=7)
    return folder, result


def _arrays(folder, index):
    episode = read_episode(folder / episode_name(index))
    return episode.frames, episode.actions, episode.rewards, episode.dones


def test_episodes_have_the_agreed_arrays(collected):
    folder, result = collected
    assert (result.collected, result.kept, result.stopped) == (3, 0, False)
    assert result.steps == 3 * STEPS
    for index in range(3):
        with np.load(folder / episode_name(index), allow_pickle=False) as npz:
            assert sorted(npz.files) == ["actions", "dones", "frames", "rewards"]
            assert npz["frames"].dtype == np.uint8 and npz["frames"].shape == (STEPS, 64, 64, 3)
            assert npz["actions"].dtype == np.float32 and npz["actions"].shape == (STEPS, 3)
            assert npz["rewards"].dtype == np.float32 and npz["rewards"].shape == (STEPS,)
            assert npz["dones"].dtype == np.bool_ and npz["dones"].shape == (STEPS,)
            assert npz["frames"].std() > 5  # a picture of the track, not a blank
    info = json.loads((folder / "rollouts.json").read_text())
    assert (info["env"], info["seed"], info["steps"], info["episodes"]) == ("CarRacing-v3", 7, STEPS, 3)
    assert info["total_steps"] == 3 * STEPS and info["policy"]["name"] == "smooth-random"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_the_same_seed_gives_the_same_rollouts_with_one_worker(collected, tmp_path):
    folder, _ = collected
    collect(tmp_path, 3, STEPS, workers=1, seed=7)
    for index in range(3):
        for mine, theirs in zip(_arrays(tmp_path, index), _arrays(folder, index), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    # and another seed another track
    assert not np.array_equal(_arrays(folder, 0)[0], _arrays(folder, 1)[0])


def test_a_stopped_collect_keeps_its_episodes_and_a_second_one_resumes(tmp_path):
    heard = []

    def stop_after_first_episode():
        return bool(heard) and heard[-1].episodes_done >= 1

    first = collect(tmp_path, 3, STEPS, workers=1, seed=3, on_progress=heard.append,
                    should_stop=stop_after_first_episode)
    assert first.stopped and first.collected == 1
    assert [p.name for p in sorted(tmp_path.glob("episode-*.npz"))] == ["episode-00000.npz"]
    assert heard[0].eta_s is not None and heard[-1].steps_done >= STEPS
    kept = (tmp_path / "episode-00000.npz").stat().st_mtime_ns

    second = collect(tmp_path, 3, STEPS, workers=2, seed=3)
    assert (second.kept, second.collected, second.stopped) == (1, 2, False)
    assert (tmp_path / "episode-00000.npz").stat().st_mtime_ns == kept  # kept, not driven again
    assert len(load_rollouts(str(tmp_path))) == 3
    assert json.loads((tmp_path / "rollouts.json").read_text())["episodes"] == 3


def test_a_folder_is_not_resumed_with_another_seed(collected):
    folder, _ = collected
    with pytest.raises(CollectError, match="seed 7"):
        collect(folder, 4, STEPS, seed=8)


def _episode(steps=5, frame=(64, 64, 3)):
    return Episode(np.zeros((steps, *frame), np.uint8), np.zeros((steps, 3), np.float32),
                   np.zeros(steps, np.float32), np.zeros(steps, np.bool_))


def test_a_damaged_episode_is_skipped_and_named(tmp_path):
    for index in range(3):
        save_episode(tmp_path / episode_name(index), _episode())
    data = (tmp_path / episode_name(1)).read_bytes()
    (tmp_path / episode_name(1)).write_bytes(data[: len(data) // 2])  # cut short, as by a full disk
    np.savez(tmp_path / episode_name(3), frames=np.zeros((5, 96, 96, 3), np.uint8),
             actions=np.zeros((5, 3), np.float32), rewards=np.zeros(5, np.float32), dones=np.zeros(5, np.bool_))

    rollouts = load_rollouts(str(tmp_path))
    assert [p.name for p in rollouts.episodes] == [episode_name(0), episode_name(2)]
    assert [name for name, _ in rollouts.skipped] == [episode_name(1), episode_name(3)]
    assert "frames is uint8 (5, 96, 96, 3)" in rollouts.skipped[1][1]
    with pytest.raises(DataError, match=episode_name(1)):
        read_episode(tmp_path / episode_name(1))
    with pytest.raises(DataError, match=f"{episode_name(3)}.*frames"):
        read_episode(tmp_path / episode_name(3))


def test_a_missing_or_empty_folder_is_refused_clearly(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_rollouts(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="no readable rollout episodes.*studio dream collect"):
        load_rollouts(str(tmp_path))


def test_the_split_holds_out_whole_episodes(tmp_path):
    for index in range(20):
        save_episode(tmp_path / episode_name(index), _episode(steps=4 + index))
    rollouts = load_rollouts(str(tmp_path))
    assert rollouts.steps == sum(4 + i for i in range(20))
    split = rollouts.split(seed=1)
    assert (len(split.train), len(split.validation)) == (18, 2)
    assert not set(split.train) & set(split.validation)
    assert split.train.steps + split.validation.steps == rollouts.steps
    assert list(rollouts.split(seed=1).validation) == list(split.validation)
    assert list(rollouts.split(seed=2).validation) != list(split.validation)


def test_the_random_policy_drifts_forward_instead_of_shaking():
    stream = SmoothRandomPolicy().actions(seed=0)
    actions = np.stack([next(stream) for _ in range(2000)])
    assert actions.dtype == np.float32
    assert actions.min(axis=0).tolist() >= [-1, 0, 0] and actions.max(axis=0).tolist() <= [1, 1, 1]
    assert np.abs(np.diff(actions[:, 0])).mean() < 0.1  # a drift, not uniform noise (0.67 a step)
    assert actions[:, 0].min() < -0.4 and actions[:, 0].max() > 0.4  # yet it turns both ways
    assert actions[:, 1].mean() > 0.3 and actions[:, 2].mean() < 0.1  # mostly gas, little brake
    again = SmoothRandomPolicy().actions(seed=0)
    np.testing.assert_array_equal(np.stack([next(again) for _ in range(2000)]), actions)


def test_the_frame_loses_the_dashboard_and_is_64_pixels():
    obs = np.zeros((96, 96, 3), np.uint8)
    obs[84:] = 255  # the dashboard
    obs[:42, :, 1] = 200  # the upper half green
    frame = frame_64(obs)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert frame[:, :, 0].max() == 0  # no white dashboard left
    assert frame[:30, :, 1].min() == 200 and frame[34:, :, 1].max() == 0


def test_a_bare_rollouts_folder_is_a_data_argument(tmp_path, make_studio_host):
    """`studio train world-vae --data FOLDER` reads the folder as CarRacing rollouts."""
    from studio.core.data import resolve_data_argument

    save_episode(tmp_path / episode_name(0), _episode())
    spec, location = resolve_data_argument(make_studio_host().registry, "rollouts", str(tmp_path))
    assert spec.name == "carracing-rollouts" and location == str(tmp_path)



def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit may stay unreaped in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_collect_killed_outright_takes_its_workers_with_it(tmp_path):
    """SIGKILL to the collecting process alone (no one ends its process group): its workers see their parent
    gone and stop, rather than driving on unseen."""
    out = tmp_path / "r"
    process = subprocess.Popen([sys.executable, "-m", "studio", "dream", "collect", "--episodes", "20", "--steps",
                                "1000", "--workers", "1", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while '"progress"' not in ((out / "events.jsonl").read_text() if (out / "events.jsonl").exists() else ""):
            assert process.poll() is None and time.monotonic() < deadline, "collecting never began"
            time.sleep(0.2)
        workers = _children(process.pid)
        assert workers, "no worker process to watch"
        process.kill()
        process.wait()
        deadline = time.monotonic() + 60
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker drove on after its parent was killed"
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.kill()
