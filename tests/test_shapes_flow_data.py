"""Obstacle shapes, their signed distance, and the cached steady-flow data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.cfd import flow_data, lbm, shapes

TINY_GRID = (20, 48)


@pytest.mark.parametrize("family", shapes.FAMILIES)
def test_random_obstacles_are_reproducible_and_fit_the_channel(family):
    first = shapes.random_obstacles(20, 64, 128, family=family, seed=3)
    again = shapes.random_obstacles(20, 64, 128, family=family, seed=3)
    other = shapes.random_obstacles(20, 64, 128, family=family, seed=4)
    assert first.dtype == bool and first.shape == (20, 64, 128)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    lbm.check_obstacles(first, lbm.ChannelFlow(height=64, width=128))
    rows = first.any(axis=2)
    heights = rows.shape[1] - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    assert heights.max() <= shapes.MAX_HEIGHT_FRACTION * 62 + 1
    assert not first[:, : shapes.MARGIN].any() and not first[:, -shapes.MARGIN :].any()
    assert not first[:, :, 64:].any(), "obstacles sit in the first half of the channel"
    assert len({mask.sum() for mask in first}) > 10, "sizes vary"


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="family"):
        shapes.random_obstacles(1, 64, 128, family="cars")


def test_signed_distance_matches_the_exact_distance_to_a_disc():
    y, x = np.mgrid[0:64, 0:128]
    radius = 10.0
    r = np.hypot(x - 40, y - 32)
    disc = r <= radius
    sdf = shapes.signed_distance(disc)
    assert (sdf[disc] < 0).all() and (sdf[~disc] > 0).all()
    far = r > radius + 2
    assert np.abs(sdf[far] - (r[far] - radius)).max() < 0.75
    assert shapes.signed_distance(disc[None]).shape == (1, 64, 128)


def test_naca_profile_has_its_nominal_thickness_at_thirty_percent_chord():
    outline = shapes.naca_outline(thickness=0.12, camber=0.0, camber_position=0.4, points=401)
    upper = outline[:401]
    index = np.argmax(upper[:, 1])
    assert upper[index, 0] == pytest.approx(0.30, abs=0.01)
    assert 2 * upper[index, 1] == pytest.approx(0.12, rel=0.01)


def test_a_generated_data_set_is_cached_with_its_metadata_and_loaded_back(isolated_dirs):
    options = {"family": "mixed", "seed": 1, "grid": TINY_GRID, "tolerance": 1e-4}
    first = flow_data.load_flows(3, progress=False, batch_size=2, **options)
    path = flow_data.cache_file(3, batch_size=2, **options)
    assert path.exists() and path.is_relative_to(isolated_dirs)
    assert len(first) == 3 and first.converged.all()
    meta = first.metadata
    assert meta["grid"] == list(TINY_GRID) and meta["solver_version"] == lbm.SOLVER_VERSION
    assert meta["recipe"] == flow_data.dataset_recipe(3, batch_size=2, **options)
    assert meta["seed"] == 1 and meta["reynolds"] == 20.0 and meta["mlups"] > 0
    assert first.steps.min() > 0 and (first.residual < 1e-4).all()
    again = flow_data.load_flows(3, progress=False, batch_size=2, **options)  # from the cache
    np.testing.assert_array_equal(again.ux, first.ux)
    assert again.metadata == meta
    binary, sdf = first.inputs("binary")[..., 0], first.inputs("sdf")[..., 0]
    assert binary.shape == sdf.shape == (3, *TINY_GRID)
    assert not first.obstacles[:, [0, -1]].any(), "the stored masks hold the obstacles only"
    assert (binary[:, [0, -1]] == 1).all(), "the inputs show the walls as solid"
    np.testing.assert_array_equal(sdf < 0, binary == 1)
    targets = first.targets()
    assert targets.shape == (3, *TINY_GRID, 2)
    assert 0.5 < np.abs(targets[..., 0]).max() < 3, "velocities are scaled by u_max"
    assert (targets[first.obstacles] == 0).all()


def test_the_lesson_recipe_is_the_same_with_a_gpu_and_the_original_grid_is_an_option(
    isolated_dirs, monkeypatch
):
    # a GPU used to switch the lesson to 128x256, and with it the data and every threshold
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert flow_data.LESSON_FULL["solver"]["grid"] == flow_data.LESSON_GRID == (64, 128)
    requested = []
    monkeypatch.setattr(
        flow_data, "generate", lambda num_samples, **options: requested.append(options["grid"])
    )
    monkeypatch.setattr(flow_data, "save", lambda dataset, path: None)
    with pytest.raises(AttributeError):  # the fake generate returns no data set
        flow_data.load_flows(1, progress=False)
    assert requested == [flow_data.LESSON_GRID], "a grid left out is the lesson's on every device"

    original = flow_data.refined(flow_data.LESSON_FULL)
    assert original["solver"]["grid"] == flow_data.ORIGINAL_GRID == (128, 256)
    assert original["solver"]["tolerance"] == flow_data.LESSON_FULL["solver"]["tolerance"] / 2
    for split in ("train", "test", "ood"):
        assert original[split] == flow_data.LESSON_FULL[split]
    assert flow_data.LESSON_FULL["solver"]["grid"] == (64, 128), "refined leaves the lesson alone"
    smoke_grid = flow_data.refined(flow_data.LESSON_SMOKE)["solver"]["grid"]
    assert smoke_grid == tuple(2 * n for n in flow_data.LESSON_SMOKE["solver"]["grid"])
    lesson_file = flow_data.cache_file(800, **flow_data.LESSON_FULL["solver"])
    original_file = flow_data.cache_file(800, **original["solver"])
    assert lesson_file != original_file, "the option's data is cached apart"


def test_the_mirror_image_of_a_solved_flow_is_the_flow_around_the_mirrored_obstacle():
    flow = flow_data.channel_for(TINY_GRID)
    obstacle = shapes.random_obstacles(1, *TINY_GRID, seed=5)
    both = np.concatenate([obstacle, obstacle[:, ::-1]])
    # the scheme is mirror-symmetric at every step, so a few hundred steps are enough to compare
    solution = lbm.solve_steady(both, flow, max_steps=400, tolerance=1e-12)
    targets = np.stack([solution.ux, solution.uy], axis=-1)
    inputs, mirror_targets = flow_data.mirrored(both[..., None], targets)
    np.testing.assert_array_equal(inputs[0, ..., 0], both[1])
    np.testing.assert_allclose(mirror_targets[0], targets[1], atol=1e-5 * flow.u_max)


def test_samples_that_did_not_converge_are_dropped_and_counted(isolated_dirs, capsys):
    options = {"grid": TINY_GRID, "tolerance": 1e-9, "max_steps": 200, "progress": False}
    kept = flow_data.load_flows(2, **options)
    assert len(kept) == 0
    assert "Dropping 2 of 2" in capsys.readouterr().out
    flagged = flow_data.load_flows(2, keep_unconverged=True, **options)
    assert len(flagged) == 2 and not flagged.converged.any()


# a quick recipe: two flows on the tiny grid, solved loosely (the cache, not the flow, is tested)
QUICK = {"grid": TINY_GRID, "tolerance": 1e-2, "max_steps": 300, "progress": False}


def _cached_files(root: Path) -> list[Path]:
    return sorted((root / "cache" / "cfd").glob("*.npz"))


def test_the_cache_key_changes_with_every_solver_option_and_the_shape_generator(monkeypatch):
    recipe = {"family": "mixed", "seed": 0, "grid": TINY_GRID, "reynolds": 20.0, "tolerance": 1e-4}
    reference = flow_data.cache_file(3, **recipe)
    assert reference.name.startswith("mixed-20x48-re20-n3-seed0-"), "a readable prefix"
    changes = {
        "num_samples": 4,
        "family": "airfoil",
        "seed": 1,
        "grid": (24, 48),
        "reynolds": 10.0,
        "tolerance": 1e-5,
        "max_steps": 1000,
        "batch_size": 4,
        "step": "generated",
    }
    names = {reference.name}
    for option, value in changes.items():
        changed = {"num_samples": 3, **recipe, option: value}
        names.add(flow_data.cache_file(**changed).name)
    assert len(names) == len(changes) + 1, "an option leaves the key unchanged"
    # the same recipe spelled differently (defaults given, an int Reynolds number) is the same set
    same = {**recipe, "reynolds": 20, "max_steps": 40_000, "batch_size": 16}
    assert flow_data.cache_file(3, **same) == reference
    with pytest.raises(TypeError, match="speed"):
        flow_data.cache_file(3, **recipe, speed=2)
    for module, constant in ((shapes, "SHAPES_VERSION"), (lbm, "SOLVER_VERSION")):
        with monkeypatch.context() as patched:
            patched.setattr(module, constant, "a new version")
            assert flow_data.cache_file(3, **recipe) != reference, constant
    with monkeypatch.context() as patched:
        slower = lbm.ChannelFlow(height=TINY_GRID[0], width=TINY_GRID[1], u_max=0.05)
        patched.setattr(flow_data, "channel_for", lambda grid, reynolds=20.0: slower)
        assert flow_data.cache_file(3, **recipe) != reference, "the inlet speed changes the data"


def test_the_code_fingerprint_ignores_comments_and_docstrings_but_not_code(tmp_path):
    source = tmp_path / "solver.py"
    source.write_text('"""A solver."""\n\nRATE = 0.5  # per step\n')
    before = flow_data.code_fingerprint(source)
    source.write_text('"""A solver, documented."""\n\n# the rate\nRATE = 0.5\n')
    assert flow_data.code_fingerprint(source) == before
    source.write_text('"""A solver."""\n\nRATE = 0.25  # per step\n')
    assert flow_data.code_fingerprint(source) != before


@pytest.mark.fault
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_cache_file_is_regenerated_with_a_message(isolated_dirs, capsys, damage):
    first = flow_data.load_flows(2, keep_unconverged=True, **QUICK)
    [path] = _cached_files(isolated_dirs)
    content = path.read_bytes()
    damaged = {"truncated": content[: len(content) // 2], "garbage": b"not a zip", "empty": b""}
    path.write_bytes(damaged[damage])
    capsys.readouterr()
    again = flow_data.load_flows(2, keep_unconverged=True, **QUICK)
    out = capsys.readouterr().out
    assert path.name in out and "unreadable" in out and "regenerating" in out, out
    np.testing.assert_array_equal(again.ux, first.ux)
    assert _cached_files(isolated_dirs) == [path]
    np.testing.assert_array_equal(flow_data.load(path).ux, first.ux)  # repaired on disk


@pytest.mark.fault
def test_a_stale_cache_file_is_regenerated_with_a_message(isolated_dirs, capsys):
    wanted = flow_data.load_flows(2, seed=1, keep_unconverged=True, **QUICK)
    other = flow_data.load_flows(2, seed=2, keep_unconverged=True, **QUICK)
    [path] = [path for path in _cached_files(isolated_dirs) if "-seed1-" in path.name]
    [other_path] = [path for path in _cached_files(isolated_dirs) if "-seed2-" in path.name]
    other_path.replace(path)  # seed 2's flows under seed 1's name
    capsys.readouterr()
    again = flow_data.load_flows(2, seed=1, keep_unconverged=True, **QUICK)
    out = capsys.readouterr().out
    assert path.name in out and "stale" in out and "seed" in out and "regenerating" in out, out
    np.testing.assert_array_equal(again.obstacles, wanted.obstacles)
    assert not np.array_equal(again.obstacles, other.obstacles)


@pytest.mark.fault
def test_caches_of_the_previous_naming_scheme_are_ignored(isolated_dirs):
    old = isolated_dirs / "cache" / "cfd" / "mixed-20x48-re20-tol0.01-n2-seed0-v2.0.npz"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"written by an older version")
    dataset = flow_data.load_flows(2, keep_unconverged=True, **QUICK)
    assert len(dataset) == 2 and "recipe" in dataset.metadata
    assert old.read_bytes() == b"written by an older version", "left alone"


def test_a_cache_without_the_step_metadata_still_loads(isolated_dirs):
    dataset = flow_data.load_flows(2, keep_unconverged=True, **QUICK)
    [path] = _cached_files(isolated_dirs)
    del dataset.metadata["step"]  # caches made before the step was recorded
    flow_data.save(dataset, path)
    assert flow_data.load_flows(2, keep_unconverged=True, **QUICK).metadata["step"]


@pytest.mark.fault
def test_a_diverging_data_set_names_its_samples_and_caches_nothing(isolated_dirs, monkeypatch):
    def unstable_channel(grid, reynolds=20.0):
        flow = lbm.ChannelFlow(height=grid[0], width=grid[1], reynolds=reynolds)
        object.__setattr__(flow, "reynolds", 1e5)  # past the guard: tau just above 1/2
        return flow

    monkeypatch.setattr(flow_data, "channel_for", unstable_channel)
    with pytest.raises(FloatingPointError) as diverged:
        flow_data.load_flows(2, seed=7, **QUICK)
    message = str(diverged.value)
    assert "samples [" in message and "'mixed'" in message and "seed 7" in message, message
    assert "shapes.random_obstacles(2, 20, 48, family='mixed', seed=7)" in message
    assert _cached_files(isolated_dirs) == []


def test_relative_l2_error_is_zero_for_the_truth_and_ignores_the_obstacle():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2, 8, 8, 2))
    obstacles = np.zeros((2, 8, 8), dtype=bool)
    obstacles[:, 2:4, 2:4] = True
    true[obstacles] = 0
    np.testing.assert_allclose(flow_data.relative_l2_error(true, true), 0)
    noisy = true + 0.1 * true
    np.testing.assert_allclose(flow_data.relative_l2_error(noisy, true), 0.1)
    inside_only = true.copy()
    inside_only[obstacles] = 5.0
    np.testing.assert_allclose(flow_data.relative_l2_error(inside_only, true, obstacles), 0)
    with pytest.raises(ValueError, match="Shapes differ"):
        flow_data.relative_l2_error(true, true[..., :1])


def test_divergence_of_a_rotation_is_zero_and_of_an_expansion_is_two():
    y, x = np.mgrid[0:16, 0:16].astype(float)
    np.testing.assert_allclose(flow_data.divergence(-y, x), 0, atol=1e-12)
    np.testing.assert_allclose(flow_data.divergence(x, y), 2)
    np.testing.assert_allclose(flow_data.vorticity(-y, x), 2)


def test_the_fourth_order_divergence_is_exact_for_a_cubic_flow_away_from_the_edges():
    y, x = np.mgrid[0:16, 0:20].astype(float)
    ux, uy = x**3, -3 * x**2 * y  # divergence-free
    fourth = flow_data.divergence(ux, uy, order=4)
    np.testing.assert_allclose(fourth[2:-2, 2:-2], 0, atol=1e-9)
    second = flow_data.divergence(ux, uy)
    np.testing.assert_allclose(second[2:-2, 2:-2], 1.0)  # h^2/6 u''' = 1
    with pytest.raises(ValueError, match="order"):
        flow_data.divergence(ux, uy, order=3)
