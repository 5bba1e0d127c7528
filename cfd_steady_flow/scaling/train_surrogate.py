"""Train the CFD lab's Guo CNN data-parallel: Keras on PyTorch inside DistributedDataParallel.

    torchrun --standalone --nproc-per-node=2 cfd_steady_flow/scaling/train_surrogate.py --epochs 10

Every rank holds a copy of the model and trains on its own share of each epoch's batches
(``DistributedSampler``); after every backward pass DDP averages the gradients over the ranks, so
the copies stay identical and one step on N ranks with B flows each is one step on N * B flows.
The learning rate grows with that global batch (linear scaling, after a warm-up). Rank 0 writes a
checkpoint after every epoch; ``--resume`` continues from it. ``--check-one-step`` first verifies
the equivalence above on the training data: one SGD step with DDP against one step of a single
model on the whole global batch. ``BOOTCAMP_MODE=smoke`` picks the small data set and network.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # DDP wraps PyTorch modules: Keras on PyTorch

import argparse
import gc
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import keras
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from common import mode, seeding
from common.cfd import distributed, flow_data, flow_models

TRAIN_FRACTION = 0.88  # as in notebooks 03 and 04: the rest of "train" validates
BASE_BATCH = 4  # the lesson's batch (notebooks 03 and 04) ...
BASE_LEARNING_RATE = 2e-3  # ... and its peak learning rate; scaled linearly with the global batch
WARMUP_FRACTION = 0.05


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=mode.pick(full=15, smoke=2))
    parser.add_argument("--batch-per-rank", type=int, default=BASE_BATCH)
    parser.add_argument("--max-samples", type=int, help="train on at most this many flows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--checkpoint", type=Path, help="rank 0 saves here after every epoch")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-after", type=int, help="stop after this epoch (to resume later)")
    parser.add_argument("--check-one-step", action="store_true",
                        help="first compare one DDP step with one large-batch step")
    parser.add_argument("--no-sync-epochs", type=int, default=0,
                        help="then time this many epochs without gradient averaging")
    parser.add_argument("--report", type=Path, help="rank 0 writes the results here (JSON)")
    return parser.parse_args()


def build_model(grid: tuple[int, int], seed: int) -> keras.Model:
    """The lesson's Guo CNN (the sizes of notebooks 03 and 04), initialised from ``seed``.

    Every rank must build the same layers under the same names. The order in which Keras lists a
    functional model's parameters can depend on the layers' names (the two decoders sit at the
    same depth), and DDP pairs the ranks' parameters by that order: a rank that had built one
    model more, and so numbered its layers on, would average the gradients of the u_x decoder
    with those of the u_y decoder, which have the same shapes. Clearing the session restarts the
    numbering.
    """
    keras.backend.clear_session()
    seeding.seed_all(seed)
    filters = mode.pick(full=(32, 64, 128, 128), smoke=(16, 32, 64))
    bottleneck = mode.pick(full=512, smoke=128)
    return flow_models.guo_cnn(grid, filters, bottleneck)


def warmup_cosine(total_steps: int) -> callable:
    """The learning-rate factor per step: linear warm-up to 1, then cosine decay to 0.01."""
    warmup = max(1, int(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.01 + 0.99 * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def flat_weights(model: keras.Model) -> np.ndarray:
    """Every weight of a model in one float64 vector."""
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in model.get_weights()])


def check_one_step(x: torch.Tensor, y: torch.Tensor, grid: tuple[int, int], seed: int,
                   batch: int, worker: distributed.Worker) -> dict[str, float]:
    """One SGD step with DDP (B flows per rank) against one step on all N * B flows at once."""
    learning_rate = 0.1
    global_batch = batch * worker.world_size
    model = build_model(grid, seed)
    start = flat_weights(model)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    mine = slice(worker.rank * batch, (worker.rank + 1) * batch)
    loss = torch.nn.functional.mse_loss(ddp(x[mine]), y[mine])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    ddp_step = flat_weights(model) - start
    result = {}
    if worker.is_main:
        single = build_model(grid, seed)  # the same initial weights
        single_optimizer = torch.optim.SGD(single.parameters(), lr=learning_rate)
        single_loss = torch.nn.functional.mse_loss(single(x[:global_batch]), y[:global_batch])
        single_optimizer.zero_grad()
        single_loss.backward()
        single_optimizer.step()
        single_step = flat_weights(single) - start
        difference = np.abs(ddp_step - single_step).max() / np.abs(single_step).max()
        result = {"global_batch": global_batch, "relative_difference": float(difference),
                  "largest_change": float(np.abs(single_step).max())}
        print(f"one step, {worker.world_size} ranks x {batch} flows vs 1 process x "
              f"{global_batch} flows: the weight updates differ by {difference:.1e} of the "
              f"largest change", flush=True)
    dist.barrier()
    return result


def main() -> None:
    """Load the data, (optionally) check one step, train, evaluate, checkpoint, report."""
    args = parse_args()
    if keras.backend.backend() != "torch":
        raise SystemExit(f"KERAS_BACKEND={keras.backend.backend()}: this script needs 'torch'")
    worker = distributed.init()
    print(distributed.describe(worker), flush=True)
    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions on every GPU: one rounding
    torch.backends.cuda.matmul.allow_tf32 = False
    recipe = mode.pick(full=flow_data.LESSON_FULL, smoke=flow_data.LESSON_SMOKE)
    flows = flow_data.load_split("train", recipe, progress=False)
    num_train = int(TRAIN_FRACTION * len(flows))
    train, val = flows.subset(slice(None, num_train)), flows.subset(slice(num_train, None))
    if args.max_samples:
        train = train.subset(slice(None, args.max_samples))
    grid = tuple(flows.metadata["grid"])
    x = torch.as_tensor(train.inputs("sdf"), device=worker.device)
    y = torch.as_tensor(train.targets().astype(np.float32), device=worker.device)
    report: dict = {"world_size": worker.world_size, "device": str(worker.device),
                    "backend": worker.backend, "num_train": len(train)}
    if args.check_one_step:
        report["one_step"] = check_one_step(x, y, grid, args.seed, args.batch_per_rank, worker)

    model = build_model(grid, args.seed)
    global_batch = args.batch_per_rank * worker.world_size
    peak_learning_rate = BASE_LEARNING_RATE * global_batch / BASE_BATCH
    sampler = DistributedSampler(TensorDataset(x, y), num_replicas=worker.world_size,
                                 rank=worker.rank, shuffle=True, seed=args.seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_per_rank, sampler=sampler)
    optimizer = torch.optim.Adam(model.parameters(), lr=peak_learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(args.epochs * len(loader)))
    first_epoch = 0
    if args.resume and args.checkpoint and args.checkpoint.exists():
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        model.set_weights(state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch = state["epoch"]
        if worker.is_main:
            print(f"resumed from {args.checkpoint} after epoch {first_epoch}", flush=True)
    ddp = DistributedDataParallel(model)  # copies rank 0's weights to every rank
    report |= {"batch_per_rank": args.batch_per_rank, "global_batch": global_batch,
               "peak_learning_rate": peak_learning_rate, "steps_per_epoch": len(loader),
               "first_epoch": first_epoch, "num_parameters": model.count_params(),
               "epochs": [], "no_sync_epochs": []}

    def run_epoch(epoch: int, synchronise: bool) -> tuple[float, float]:
        sampler.set_epoch(epoch)
        dist.barrier()
        start, total = time.perf_counter(), torch.zeros(2, device=worker.device)
        with nullcontext() if synchronise else ddp.no_sync():
            for inputs, targets in loader:
                loss = torch.nn.functional.mse_loss(ddp(inputs), targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if synchronise:
                    scheduler.step()
                total += torch.stack([loss.detach() * len(inputs), torch.tensor(
                    float(len(inputs)), device=worker.device)])
        if worker.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        dist.barrier()
        dist.all_reduce(total)  # the mean loss over every rank's flows
        return seconds, float(total[0] / total[1])

    last_epoch = min(args.epochs, args.stop_after or args.epochs)
    for epoch in range(first_epoch, last_epoch):
        seconds, train_loss = run_epoch(epoch, synchronise=True)
        report["epochs"].append({"epoch": epoch + 1, "seconds": seconds, "loss": train_loss})
        if worker.is_main:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {train_loss:.3e}, {seconds:.2f} s "
                  f"({len(train) / seconds:.1f} flows/s on {worker.world_size} ranks)", flush=True)
            if args.checkpoint:
                args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                partial = args.checkpoint.with_suffix(".partial")
                torch.save({"epoch": epoch + 1, "weights": model.get_weights(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "global_batch": global_batch},
                           partial)
                partial.replace(args.checkpoint)
    if worker.is_main:
        errors = flow_models.relative_errors(model, val.inputs("sdf"), val.targets())
        report["val_rel_l2"] = float(errors.mean())
        print(f"validation: mean relative L2 error {errors.mean():.4f} over {len(val)} flows",
              flush=True)
    for epoch in range(args.no_sync_epochs):  # compute only: the copies drift apart, timing only
        seconds, _ = run_epoch(last_epoch + epoch, synchronise=False)
        report["no_sync_epochs"].append({"seconds": seconds})
    if worker.is_main and args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
    gc.collect()  # free the DDP model first: one freed after the group has ended can hang Gloo
    distributed.finish()
