"""Training speed of the chip-flow PINN (``pinn/04_chip_2d.ipynb``) in iterations per second.

Usage: ``.venv/bin/python benchmarks/pinn_chip.py [--points 2000] [--threads 1 2] [--steps 30]``

Times Adam steps of the notebook's network (fully connected, 2 -> 64 x 4 -> 3, SiLU) on the
notebook's loss (Navier-Stokes residuals with second derivatives from autograd, boundary terms and
integral continuity), on the CPU with each thread count given, and on the GPU when PyTorch sees one.
With ``--contended`` it also runs two trainings at once, one per process, to show what happens when
their threads compete for the cores. Report the machine with the numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import torch

from common.pinn import chip, networks


def chip_network(parameterised: bool = False) -> torch.nn.Module:
    """The network of notebook 04 (05 when ``parameterised``: chip height and width as inputs)."""
    lower = [chip.X_RANGE[0], chip.Y_RANGE[0]]
    upper = [chip.X_RANGE[1], chip.Y_RANGE[1]]
    if parameterised:
        lower += [chip.HEIGHT_RANGE[0], chip.WIDTH_RANGE[0]]
        upper += [chip.HEIGHT_RANGE[1], chip.WIDTH_RANGE[1]]
    return networks.FullyConnected(
        len(lower), 3, width=64, depth=4, activation="silu", input_lower=lower, input_upper=upper
    )


def iterations_per_second(
    device: str, num_threads: int, num_points: int, num_steps: int, parameterised: bool = False
) -> float:
    """Median Adam iterations/s of the chip PINN over ``num_steps`` timed steps."""
    torch.set_num_threads(num_threads)
    torch.manual_seed(0)
    model = chip_network(parameterised).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    geometry = {"height": chip.HEIGHT_RANGE, "width": chip.WIDTH_RANGE} if parameterised else {}
    points = chip.sample(num_points, num_points // 2, **geometry).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        sum(chip.loss_terms(model, points).values()).backward()
        optimizer.step()

    for _ in range(3):  # warm-up
        step()
    times = []
    for _ in range(num_steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1.0 / times[len(times) // 2]


def _worker(args: tuple[int, int, int], queue: multiprocessing.Queue) -> None:
    queue.put(iterations_per_second("cpu", *args))


def contended(num_threads: int, num_points: int, num_steps: int) -> list[float]:
    """Iterations/s of each of two trainings run at once in two processes."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_worker, args=((num_threads, num_points, num_steps), queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [queue.get() for _ in workers]


def main() -> None:
    """Print iterations/s for each configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[2000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--contended", action="store_true")
    parser.add_argument("--parameterised", action="store_true")
    args = parser.parse_args()
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads by default")
    for num_points in args.points:
        for num_threads in args.threads:
            rate = iterations_per_second(
                "cpu", num_threads, num_points, args.steps, args.parameterised
            )
            print(
                f"CPU, {num_threads} thread(s), {num_points:6,d} interior points: {rate:7.1f} it/s"
            )
            if args.contended:
                rates = contended(num_threads, num_points, args.steps)
                print(
                    f"  two trainings at once, {num_threads} thread(s) each: "
                    + ", ".join(f"{r:.1f}" for r in rates)
                    + " it/s"
                )
        if torch.cuda.is_available():
            rate = iterations_per_second("cuda", 1, num_points, args.steps, args.parameterised)
            print(f"GPU {torch.cuda.get_device_name()}, {num_points:6,d} points: {rate:7.1f} it/s")
    if not torch.cuda.is_available():
        print("no GPU seen by PyTorch: GPU numbers skipped")


if __name__ == "__main__":
    main()
